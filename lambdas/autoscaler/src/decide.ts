/**
 * The autoscaler's decision, pure: from the load the tasks report and the
 * current desired count, how many tasks the service should have. Scale out
 * at once to what the load needs; scale in one task at a time, slowly, and
 * never on missing or partial data: both metrics must be there, every
 * running task must have reported in the minute read (a task that stopped
 * reporting would otherwise silently lower the sum), and the peak of the
 * last minutes (not one quiet minute) must fit in one task fewer. Busy
 * tasks are not at risk when scaling in: they hold ECS scale-in protection
 * while they have publishers.
 */
export interface ScalingPolicy {
  minTasks: number;
  maxTasks: number;
  targetPublishersPerTask: number;
  targetEgressBitsPerTask: number;
  /** Plan for tasks at this fraction of the targets (0.8: 20% headroom for growth until the next run). */
  utilization: number;
  scaleOutCooldownMs: number;
  scaleInCooldownMs: number;
}

export interface ScalingInput {
  desired: number;
  /** Tasks ECS reports running (DescribeServices runningCount); undefined: unknown, no scale-in. */
  running?: number;
  /** Sum over the service's tasks in the last complete minute; undefined when CloudWatch had no data point. */
  publishers: number | undefined;
  egressBitsPerSecond: number | undefined;
  /** How many tasks reported in that minute (SampleCount); undefined: unknown, no scale-in. */
  reportingTasks?: number;
  /** Largest per-minute sums over the last few minutes (default: the current values). */
  peakPublishers?: number;
  peakEgressBitsPerSecond?: number;
  lastScaleOutAt?: number;
  lastScaleInAt?: number;
  now: number;
}

export interface ScalingDecision {
  desired: number;
  direction: 'out' | 'in' | 'hold';
  reason: string;
}

export const DEFAULT_POLICY: Omit<ScalingPolicy, 'minTasks' | 'maxTasks'> = {
  targetPublishersPerTask: 20,
  targetEgressBitsPerTask: 400e6,
  utilization: 0.8,
  scaleOutCooldownMs: 60_000,
  scaleInCooldownMs: 600_000,
};

const clamp = (n: number, p: ScalingPolicy) => Math.min(p.maxTasks, Math.max(p.minTasks, n));
const since = (at: number | undefined, now: number) => (at === undefined ? Infinity : now - at);

/** Tasks the load needs, from whichever metrics are present (undefined when none is). */
export function tasksNeeded(input: Pick<ScalingInput, 'publishers' | 'egressBitsPerSecond'>, policy: ScalingPolicy): number | undefined {
  const needs: number[] = [];
  if (input.publishers !== undefined) needs.push(Math.ceil(input.publishers / (policy.targetPublishersPerTask * policy.utilization)));
  if (input.egressBitsPerSecond !== undefined) needs.push(Math.ceil(input.egressBitsPerSecond / (policy.targetEgressBitsPerTask * policy.utilization)));
  return needs.length > 0 ? Math.max(...needs) : undefined;
}

export function decideDesiredCount(input: ScalingInput, policy: ScalingPolicy): ScalingDecision {
  const { desired, now } = input;
  const hold = (reason: string): ScalingDecision => ({ desired, direction: 'hold', reason });
  if (desired < policy.minTasks) return { desired: policy.minTasks, direction: 'out', reason: `below the minimum of ${policy.minTasks}` };
  if (desired > policy.maxTasks) return { desired: policy.maxTasks, direction: 'in', reason: `above the maximum of ${policy.maxTasks}` };

  const raw = tasksNeeded(input, policy);
  if (raw === undefined) return hold('no metrics: never scale on missing data');
  const needed = clamp(raw, policy);
  const load = `${input.publishers ?? '?'} publishers, ${input.egressBitsPerSecond === undefined ? '?' : (input.egressBitsPerSecond / 1e6).toFixed(0)} Mbit/s egress`;

  if (needed > desired) {
    if (since(input.lastScaleOutAt, now) < policy.scaleOutCooldownMs) return hold(`needs ${needed} (${load}) but scaled out recently`);
    return { desired: needed, direction: 'out', reason: `${load} need ${needed} tasks${raw > policy.maxTasks ? ` (wanted ${raw}; capped at the maximum)` : ''}` };
  }
  if (raw > desired && desired >= policy.maxTasks) return hold(`${load} need ${raw} tasks: at the maximum of ${policy.maxTasks}`);
  if (needed < desired) {
    // Both metrics must be present: a missing one may hide load.
    if (input.publishers === undefined || input.egressBitsPerSecond === undefined) return hold(`needs ${needed} but a metric is missing`);
    // Every running task must be in the sum: one that stopped reporting hides its load.
    if (input.running === undefined || input.reportingTasks === undefined) return hold(`needs ${needed} but the number of reporting tasks is unknown`);
    if (input.reportingTasks < input.running) return hold(`needs ${needed} but only ${input.reportingTasks} of ${input.running} running tasks reported`);
    const peak = {
      publishers: Math.max(input.publishers, input.peakPublishers ?? 0),
      egressBitsPerSecond: Math.max(input.egressBitsPerSecond, input.peakEgressBitsPerSecond ?? 0),
    };
    const neededAtPeak = clamp(tasksNeeded(peak, policy)!, policy);
    if (neededAtPeak >= desired) return hold(`needs ${needed} now but ${neededAtPeak} at the recent peak (${peak.publishers} publishers)`);
    if (since(input.lastScaleOutAt, now) < policy.scaleInCooldownMs || since(input.lastScaleInAt, now) < policy.scaleInCooldownMs) {
      return hold(`needs ${needed} (${load}); waiting out the scale-in cooldown`);
    }
    return { desired: desired - 1, direction: 'in', reason: `${load} (peak ${peak.publishers} publishers) need ${neededAtPeak}; removing one task` };
  }
  return hold(`${load}: ${desired} tasks fit`);
}
