/**
 * The stream-aware autoscaler: the pure decision on a table of scenarios
 * and as a property, then one Lambda run end to end. ECS and CloudWatch are
 * mocked with aws-sdk-client-mock because no local server exists for them;
 * the cooldown state lives in a real DynamoDB-compatible store (dynalite).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { decideDesiredCount, DEFAULT_POLICY, type ScalingInput, type ScalingPolicy } from '../../lambdas/autoscaler/src/decide.js';
import { createAutoscalerHandler } from '../../lambdas/autoscaler/src/handler.js';
import { startLocalDynamo, type LocalDynamo } from '../../services/media/src/auth/local-dynamo.js';
import { silentLogger } from '../../services/media/src/logger.js';

const POLICY: ScalingPolicy = { ...DEFAULT_POLICY, minTasks: 2, maxTasks: 10 };
const NOW = 1_800_000_000_000;
const MIN = 60_000;
const base: ScalingInput = { desired: 2, publishers: 10, egressBitsPerSecond: 100e6, now: NOW };

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
  ];
  for (const [name, change, desired, direction] of scenarios) {
    it(name, () => {
      const decision = decideDesiredCount({ ...base, ...change }, POLICY);
      assert.deepEqual({ desired: decision.desired, direction: decision.direction }, { desired, direction }, decision.reason);
    });
  }

  it('property: always within [min, max], never scales in on missing data, scales in by at most one', () => {
    const metric = fc.option(fc.double({ min: 0, max: 1e10, noNaN: true }), { nil: undefined });
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 20 }), metric, metric,
      fc.option(fc.integer({ min: 0, max: 3_600_000 }), { nil: undefined }), fc.option(fc.integer({ min: 0, max: 3_600_000 }), { nil: undefined }),
      (desired, publishers, egressBitsPerSecond, outAgo, inAgo) => {
        const input: ScalingInput = {
          desired, publishers, egressBitsPerSecond, now: NOW,
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

  it('reads the service load, scales out, remembers it, and holds inside the cooldown', async () => {
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'media', desiredCount: 2 }] });
    ecs.on(UpdateServiceCommand).resolves({});
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'publishers', Values: [70, 12] }, { Id: 'egress', Values: [900e6] }],
    });
    const first = await run(new Date(NOW));
    assert.equal(first.desired, 5);
    const update = ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input;
    assert.deepEqual(update, { cluster: 'bc', service: 'media', desiredCount: 5 });
    const query = cloudwatch.commandCalls(GetMetricDataCommand)[0]!.args[0].input;
    assert.deepEqual(query.MetricDataQueries!.map((q) => q.MetricStat!.Metric!.MetricName), ['Publishers', 'EgressBitsPerSecond']);
    assert.deepEqual(query.MetricDataQueries![0]!.MetricStat!.Metric!.Dimensions, [{ Name: 'ServiceName', Value: 'media' }]);

    // 30 s later the load jumps again: the cooldown (stored in the table) holds it.
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'media', desiredCount: 5 }] });
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'publishers', Values: [150] }, { Id: 'egress', Values: [900e6] }] });
    const second = await run(new Date(NOW + 30_000));
    assert.equal(second.direction, 'hold');
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 1);
  });

  it('holds when CloudWatch has no data points', async () => {
    ecs.reset();
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: 'media', desiredCount: 4 }] });
    cloudwatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'publishers', Values: [] }, { Id: 'egress', Values: [] }] });
    const decision = await run(new Date(NOW + 3_600_000));
    assert.equal(decision.direction, 'hold');
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);
  });
});
