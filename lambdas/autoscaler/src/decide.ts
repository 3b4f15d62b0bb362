/**
 * The autoscaler's decision, pure: from the load the tasks report and the
 * current desired count, how many tasks the service should have. Scale out
 * at once to what the load needs; scale in one task at a time, slowly, and
 * never on missing data. Busy tasks are not at risk when scaling in: they
 * hold ECS scale-in protection while they have publishers.
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
  /** Sum over the service's tasks; undefined when CloudWatch had no data point. */
  publishers: number | undefined;
  egressBitsPerSecond: number | undefined;
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
    return { desired: needed, direction: 'out', reason: `${load} need ${needed} tasks` };
  }
  if (needed < desired) {
    // Both metrics must be present: a missing one may hide load.
    if (input.publishers === undefined || input.egressBitsPerSecond === undefined) return hold(`needs ${needed} but a metric is missing`);
    if (since(input.lastScaleOutAt, now) < policy.scaleInCooldownMs || since(input.lastScaleInAt, now) < policy.scaleInCooldownMs) {
      return hold(`needs ${needed} (${load}); waiting out the scale-in cooldown`);
    }
    return { desired: desired - 1, direction: 'in', reason: `${load} need ${needed}; removing one task` };
  }
  return hold(`${load}: ${desired} tasks fit`);
}
