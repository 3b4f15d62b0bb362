import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from 'pino';
import { loadState, readServiceCounts, readServiceLoad, saveState, setDesiredCount } from './aws.js';
import { decideDesiredCount, type ScalingDecision, type ScalingPolicy } from './decide.js';

export interface AutoscalerDeps {
  ecs: ECSClient;
  cloudwatch: CloudWatchClient;
  db: DynamoDBDocumentClient;
  table: string;
  cluster: string;
  service: string;
  /** The ServiceName dimension the media tasks report under. */
  metricsServiceName: string;
  namespace: string;
  policy: ScalingPolicy;
  logger: Logger;
  now?: () => Date;
}

/** One run (EventBridge, every minute): read load and state, decide, apply, remember. */
export function createAutoscalerHandler(deps: AutoscalerDeps) {
  return async (): Promise<ScalingDecision> => {
    const now = deps.now?.() ?? new Date();
    const [counts, load, state] = await Promise.all([
      readServiceCounts(deps.ecs, deps.cluster, deps.service),
      readServiceLoad(deps.cloudwatch, deps.namespace, deps.metricsServiceName, now),
      loadState(deps.db, deps.table, deps.service),
    ]);
    const { minute, ...metrics } = load;
    const decision = decideDesiredCount({ ...counts, ...metrics, ...state, now: now.getTime() }, deps.policy);
    deps.logger.info({ ...counts, ...metrics, minute: minute.toISOString(), decision }, 'autoscaler decision');
    if (decision.direction !== 'hold') {
      await setDesiredCount(deps.ecs, deps.cluster, deps.service, decision.desired);
      await saveState(deps.db, deps.table, deps.service, {
        ...state,
        ...(decision.direction === 'out' ? { lastScaleOutAt: now.getTime() } : { lastScaleInAt: now.getTime() }),
      });
    }
    return decision;
  };
}
