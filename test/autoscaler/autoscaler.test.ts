/**
 * The stream-aware autoscaler: the pure decision on a table of scenarios,
 * over many consecutive runs (flapping load, a task that stops reporting, a
 * burst, a slow drain, the maximum), and as a property; then Lambda runs end
 * to end. ECS and CloudWatch are mocked with aws-sdk-client-mock because
 * there is no local CloudWatch or ECS server to run against (and these tests
 * never call AWS); the cooldown state lives in a real DynamoDB-compatible
 * store (dynalite).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { decideDesiredCount, DEFAULT_POLICY, type ScalingInput, type ScalingPolicy } from '@bridgecast/autoscaler';
import { createAutoscalerHandler } from '@bridgecast/autoscaler';
import { startLocalDynamo, type LocalDynamo } from '@bridgecast/media/auth/local-dynamo.js';
import { silentLogger } from '@bridgecast/media/logger.js';

const POLICY: ScalingPolicy = { ...DEFAULT_POLICY, minTasks: 2, maxTasks: 10 };
const NOW = 1_800_000_000_000;
const MIN = 60_000;
const base: ScalingInput = { desired: 2, running: 2, reportingTasks: 2, publishers: 10, egressBitsPerSecond: 100e6, now: NOW };

describe('decideDesiredCount', () => {
  // Per task at 80% utilization: 16 publishers, 320 Mbit/s.
  const scenarios: [string, Partial<ScalingInput>, number, 'out' | 'in' | 'hold'][] = [
    ['light load stays at the minimum', {}, 2, 'hold'],
    ['publishers beyond capacity scale out at once to what they need', { publishers: 70 }, 5, 'out'],
    ['egress beyond capacity scales out too', { egressBitsPerSecond: 1500e6 }, 5, 'out'],
    ['the larger of the two needs wins', { publishers: 40, egressBitsPerSecond: 2000e6 }, 7, 'out'],
    ['never above the maximum', { publishers: 1000 }, 10, 'out'],
    ['a second scale-out waits for the cooldown', { publishers: 70, lastScaleOutAt: NOW - 30_000 }, 2, 'hold'],
    ['scale-out after the cooldown', { publishers: 70, lastScaleOutAt: NOW - 61_000 }, 5, 'out'],
    ['scale-in removes one task at a time', { desired: 6, publishers: 5, egressBitsPerSecond: 10e6 }, 5, 'in'],
    ['scale-in waits 10 minutes after a scale-out', { desired: 6, publishers: 5, egressBitsPerSecond: 10e6, lastScaleOutAt: NOW - 5 * MIN }, 6, 'hold'],
    ['scale-in waits 10 minutes after a scale-in', { desired: 6, publishers: 5, egressBitsPerSecond: 10e6, lastScaleInAt: NOW - 9 * MIN }, 6, 'hold'],
    ['scale-in after the cooldowns', { desired: 6, publishers: 5, egressBitsPerSecond: 10e6, lastScaleInAt: NOW - 11 * MIN }, 5, 'in'],
    ['never below the minimum', { desired: 2, publishers: 0, egressBitsPerSecond: 0 }, 2, 'hold'],
    ['no metrics at all: hold', { desired: 6, publishers: undefined, egressBitsPerSecond: undefined }, 6, 'hold'],
    ['one metric missing: no scale-in', { desired: 6, publishers: 1, egressBitsPerSecond: undefined }, 6, 'hold'],
    ['one metric missing: scale-out still happens', { desired: 2, publishers: 70, egressBitsPerSecond: undefined }, 5, 'out'],
    ['desired below min (manual change) is corrected', { desired: 1 }, 2, 'out'],
    ['desired above max (manual change) is corrected', { desired: 14 }, 10, 'in'],
    ['one task stopped reporting: its load is missing from the sum, so no scale-in', { desired: 6, running: 6, reportingTasks: 5, publishers: 5, egressBitsPerSecond: 10e6 }, 6, 'hold'],
    ['running count unknown: no scale-in', { desired: 6, running: undefined, publishers: 5, egressBitsPerSecond: 10e6 }, 6, 'hold'],
    ['a task reporting short still lets scale-out happen', { desired: 4, running: 4, reportingTasks: 3, publishers: 90 }, 6, 'out'],
    ['a quiet minute after a recent peak: no scale-in', { desired: 6, publishers: 5, egressBitsPerSecond: 10e6, peakPublishers: 90 }, 6, 'hold'],
    ['burst of publishers: straight to what they need in one step', { publishers: 120, egressBitsPerSecond: 600e6 }, 8, 'out'],
    ['max reached: hold, and say so', { desired: 10, publishers: 400, egressBitsPerSecond: 4000e6 }, 10, 'hold'],
  ];
  for (const [name, change, desired, direction] of scenarios) {
    it(name, () => {
      // Unless a scenario says otherwise, every task runs and reports.
      const counts = 'desired' in change && !('running' in change) ? { running: change.desired, reportingTasks: change.desired } : {};
      const decision = decideDesiredCount({ ...base, ...counts, ...change }, POLICY);
      assert.deepEqual({ desired: decision.desired, direction: decision.direction }, { desired, direction }, decision.reason);
    });
  }

  it('max reached: the reason names the maximum', () => {
    const d = decideDesiredCount({ ...base, desired: 10, running: 10, reportingTasks: 10, publishers: 400 }, POLICY);
    assert.match(d.reason, /maximum of 10/);
  });

  it('property: always within [min, max], never scales in on missing data, scales in by at most one', () => {
    const metric = fc.option(fc.double({ min: 0, max: 1e10, noNaN: true }), { nil: undefined });
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 20 }), metric, metric,
      fc.option(fc.integer({ min: 0, max: 3_600_000 }), { nil: undefined }), fc.option(fc.integer({ min: 0, max: 3_600_000 }), { nil: undefined }),
      (desired, publishers, egressBitsPerSecond, outAgo, inAgo) => {
        const input: ScalingInput = {
          desired, running: desired, reportingTasks: desired, publishers, egressBitsPerSecond, now: NOW,
          lastScaleOutAt: outAgo === undefined ? undefined : NOW - outAgo, lastScaleInAt: inAgo === undefined ? undefined : NOW - inAgo,
        };
        const d = decideDesiredCount(input, POLICY);
        assert.ok(d.desired >= POLICY.minTasks && d.desired <= POLICY.maxTasks, `${d.desired} out of bounds`);
        const withinBounds = desired >= POLICY.minTasks && desired <= POLICY.maxTasks;
        if (withinBounds && d.desired < desired) {
          assert.ok(publishers !== undefined && egressBitsPerSecond !== undefined, 'scaled in without both metrics');
          assert.equal(d.desired, desired - 1);
        }
      },
    ), { numRuns: Number(process.env.FUZZ_RUNS ?? 500) });
  });
});


/**
 * Consecutive autoscaler runs, one a minute, as the Lambda does them: the
 * decision is applied, cooldowns remembered, and the peak is the largest
 * load of the last 10 minutes (what readServiceLoad asks CloudWatch for).
 */
interface Minute { publishers: number; egressBitsPerSecond: number; reportingTasks?: (running: number) => number }
function simulate(start: number, minutes: Minute[]) {
  let desired = start;
  let lastScaleOutAt: number | undefined;
  let lastScaleInAt: number | undefined;
  const runs: { at: number; desired: number; direction: string; reason: string }[] = [];
  minutes.forEach((load, i) => {
    const now = NOW + i * MIN;
    const window = minutes.slice(Math.max(0, i - 9), i + 1);
    const running = desired; // tasks start (and stop) within the minute
    const d = decideDesiredCount({
      desired, running, reportingTasks: load.reportingTasks?.(running) ?? running,
      publishers: load.publishers, egressBitsPerSecond: load.egressBitsPerSecond,
      peakPublishers: Math.max(...window.map((m) => m.publishers)), peakEgressBitsPerSecond: Math.max(...window.map((m) => m.egressBitsPerSecond)),
      lastScaleOutAt, lastScaleInAt, now,
    }, POLICY);
    if (d.direction === 'out') lastScaleOutAt = now;
    if (d.direction === 'in') lastScaleInAt = now;
    desired = d.desired;
    runs.push({ at: i, desired, direction: d.direction, reason: d.reason });
  });
  return runs;
}
const steady = (n: number, m: Minute): Minute[] => Array.from({ length: n }, () => m);
const changes = (runs: ReturnType<typeof simulate>) => runs.filter((r) => r.direction !== 'hold');

describe('consecutive runs', () => {
  it('flapping load (70 ↔ 5 publishers every minute for 60 minutes): one scale-out, then no oscillation', () => {
    const minutes = Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? { publishers: 70, egressBitsPerSecond: 350e6 } : { publishers: 5, egressBitsPerSecond: 20e6 }));
    const runs = simulate(2, minutes);
    assert.deepEqual(changes(runs).map((r) => [r.at, r.desired]), [[0, 5]]);
    assert.ok(runs.every((r) => r.desired === 5 || r.at === 0));
  });

  it('flapping between two scale-out levels: the peak holds the higher one, scale-ins stay 10 minutes apart after it stops', () => {
    const minutes = [
      ...Array.from({ length: 30 }, (_, i) => ({ publishers: i % 3 === 0 ? 100 : 40, egressBitsPerSecond: 100e6 })),
      ...steady(40, { publishers: 40, egressBitsPerSecond: 100e6 }),
    ];
    const runs = simulate(2, minutes);
    assert.equal(runs[0]!.desired, 7);
    assert.ok(runs.slice(0, 30).every((r) => r.desired === 7), 'no flapping while the load flaps');
    const ins = changes(runs).filter((r) => r.direction === 'in');
    assert.deepEqual(ins.map((r) => r.desired), [6, 5, 4, 3], 'then down, one task at a time, to what 40 publishers need');
    for (let i = 1; i < ins.length; i++) assert.ok(ins[i]!.at - ins[i - 1]!.at >= 10, 'scale-ins at least 10 minutes apart');
    assert.ok(ins[0]!.at >= 27 + 10, `not before the last peak (minute 27) has left the 10-minute window: ${ins[0]!.at}`);
  });

  it('one task stops reporting for 30 minutes: no scale-in meanwhile, then it resumes', () => {
    const quiet = { publishers: 4, egressBitsPerSecond: 20e6 };
    const minutes = [
      ...steady(30, { ...quiet, reportingTasks: (running: number) => running - 1 }),
      ...steady(15, quiet),
    ];
    const runs = simulate(4, minutes);
    assert.ok(runs.slice(0, 30).every((r) => r.desired === 4 && r.direction === 'hold'), 'held while a task was missing');
    assert.match(runs[0]!.reason, /only 3 of 4 running tasks reported/);
    assert.equal(runs[30]!.direction, 'in', 'scale-in as soon as every task reports again');
    assert.equal(runs[30]!.desired, 3);
  });

  it('burst of publishers: one step to the need, a second step a minute later when the burst grows, capped at the maximum', () => {
    const minutes = [
      ...steady(5, { publishers: 3, egressBitsPerSecond: 10e6 }),
      { publishers: 60, egressBitsPerSecond: 300e6 },
      { publishers: 130, egressBitsPerSecond: 600e6 },
      ...steady(5, { publishers: 400, egressBitsPerSecond: 3000e6 }),
    ];
    const runs = simulate(2, minutes);
    assert.deepEqual(changes(runs).map((r) => [r.at, r.desired]), [[5, 4], [6, 9], [7, 10]]);
    assert.ok(runs.slice(8).every((r) => r.direction === 'hold' && /maximum/.test(r.reason)), 'then held at the maximum');
  });

  it('slow drain (150 publishers fading out over 80 minutes): one task at a time, 10 minutes apart, never under what the load needs', () => {
    const minutes = Array.from({ length: 180 }, (_, i) => {
      const publishers = Math.max(0, Math.round(150 * (1 - i / 80)));
      return { publishers, egressBitsPerSecond: publishers * 4e6 };
    });
    const runs = simulate(10, minutes);
    const ins = changes(runs);
    assert.ok(ins.every((r) => r.direction === 'in'), 'no scale-out during a drain');
    assert.deepEqual(ins.map((r) => r.desired), [9, 8, 7, 6, 5, 4, 3, 2]);
    for (let i = 1; i < ins.length; i++) assert.ok(ins[i]!.at - ins[i - 1]!.at >= 10);
    runs.forEach((r, i) => {
      const need = Math.ceil(minutes[i]!.publishers / 16);
      assert.ok(r.desired >= Math.min(10, Math.max(2, need)), `minute ${i}: ${r.desired} tasks for ${minutes[i]!.publishers} publishers`);
    });
    assert.equal(runs.at(-1)!.desired, 2);
  });

  it('max reached and staying there: no UpdateService-worthy decision for 20 minutes', () => {
    const runs = simulate(10, steady(20, { publishers: 500, egressBitsPerSecond: 5000e6 }));
    assert.deepEqual(changes(runs), []);
    assert.ok(runs.every((r) => r.desired === 10 && /at the maximum of 10/.test(r.reason)));
  });
});

describe('autoscaler Lambda run', () => {
  let dynamo: LocalDynamo;
  const ecs = mockClient(ECSClient);
  const cloudwatch = mockClient(CloudWatchClient);

  before(async () => { dynamo = await startLocalDynamo(); });
  after(async () => { await dynamo.close(); ecs.restore(); cloudwatch.restore(); });

  function run(now: Date) {
    return createAutoscalerHandler({
      ecs: new ECSClient({ region: 'ap-northeast-2' }), cloudwatch: new CloudWatchClient({ region: 'ap-northeast-2' }),
      db: dynamo.client, table: dynamo.tableName, cluster: 'bc', service: 'media', metricsServiceName: 'media',
      namespace: 'Bridgecast', policy: POLICY, logger: silentLogger, now: () => now,
    })();
  }

  /** CloudWatch's answer: per-minute points, newest first, with their timestamps (as GetMetricData returns them). */
  const points = (id: string, byMinuteStart: [number, number][]) => ({
    Id: id, Values: byMinuteStart.map(([, v]) => v), Timestamps: byMinuteStart.map(([t]) => new Date(t)), StatusCode: 'Complete' as const,
  });
  // Run at NOW + 20 s: the last complete, ingested minute is [NOW - 120 s, NOW - 60 s).
  const RUN_AT = NOW + 20_000;
  const LAST = NOW - 2 * MIN;

  it('reads the last complete minute (Sum and SampleCount), scales out, remembers it, and holds inside the cooldown', async () => {
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'media', desiredCount: 2, runningCount: 2 }] });
    ecs.on(UpdateServiceCommand).resolves({});
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [points('publishers', [[LAST, 70], [LAST - MIN, 12]]), points('egress', [[LAST, 900e6]]), points('reporting', [[LAST, 2]])],
    });
    const first = await run(new Date(RUN_AT));
    assert.equal(first.desired, 5);
    const update = ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input;
    assert.deepEqual(update, { cluster: 'bc', service: 'media', desiredCount: 5 });
    const query = cloudwatch.commandCalls(GetMetricDataCommand)[0]!.args[0].input;
    assert.equal(query.EndTime!.getTime(), NOW - MIN, 'ends at the last complete minute (minus the ingestion delay), not at now');
    assert.equal(query.StartTime!.getTime(), NOW - 11 * MIN, 'ten minutes back, for the peak');
    assert.deepEqual(query.MetricDataQueries!.map((q) => [q.MetricStat!.Metric!.MetricName, q.MetricStat!.Stat]),
      [['Publishers', 'Sum'], ['EgressBitsPerSecond', 'Sum'], ['Publishers', 'SampleCount']]);
    assert.deepEqual(query.MetricDataQueries![0]!.MetricStat!.Metric!.Dimensions, [{ Name: 'ServiceName', Value: 'media' }]);

    // 30 s later the load jumps again: the cooldown (stored in the table) holds it.
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'media', desiredCount: 5, runningCount: 5 }] });
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [points('publishers', [[LAST, 150]]), points('egress', [[LAST, 900e6]]), points('reporting', [[LAST, 5]])] });
    const second = await run(new Date(RUN_AT + 30_000));
    assert.equal(second.direction, 'hold');
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 1);
  });

  it('a task that stopped reporting (SampleCount 3, runningCount 4): no scale-in although the sum is low', async () => {
    ecs.reset();
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'media', desiredCount: 4, runningCount: 4 }] });
    const at = RUN_AT + 3 * 3_600_000;
    const last = LAST + 3 * 3_600_000;
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [points('publishers', [[last, 2]]), points('egress', [[last, 10e6]]), points('reporting', [[last, 3]])] });
    const decision = await run(new Date(at));
    assert.equal(decision.direction, 'hold');
    assert.match(decision.reason, /only 3 of 4/);
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);

    // All four report: now it scales in.
    ecs.on(UpdateServiceCommand).resolves({});
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [points('publishers', [[last, 2]]), points('egress', [[last, 10e6]]), points('reporting', [[last, 4]])] });
    assert.equal((await run(new Date(at))).desired, 3);
  });

  it('holds when CloudWatch has no data points, or only older minutes', async () => {
    ecs.reset();
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'media', desiredCount: 4, runningCount: 4 }] });
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [points('publishers', []), points('egress', []), points('reporting', [])] });
    assert.equal((await run(new Date(RUN_AT + 6 * 3_600_000))).direction, 'hold');
    const last = LAST + 7 * 3_600_000;
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [points('publishers', [[last - 3 * MIN, 1]]), points('egress', [[last - 3 * MIN, 1e6]]), points('reporting', [[last - 3 * MIN, 4]])],
    });
    const stale = await run(new Date(RUN_AT + 7 * 3_600_000));
    assert.equal(stale.direction, 'hold', 'a point from three minutes ago is not the current load');
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);
  });
});
