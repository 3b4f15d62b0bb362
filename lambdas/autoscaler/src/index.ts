import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pino from 'pino';
import { DEFAULT_POLICY } from './decide.js';
import { createAutoscalerHandler } from './handler.js';

/**
 * Lambda entry, on an EventBridge schedule. Env: CLUSTER_NAME, SERVICE_NAME,
 * STREAMS_TABLE, METRICS_NAMESPACE (Bridgecast), METRICS_SERVICE_NAME
 * (default SERVICE_NAME), MIN_TASKS, MAX_TASKS, TARGET_PUBLISHERS_PER_TASK
 * (20), TARGET_EGRESS_MBPS_PER_TASK (400), SCALE_OUT_COOLDOWN_SECONDS (60),
 * SCALE_IN_COOLDOWN_SECONDS (600).
 */
function env(name: string, fallback?: string): string {
  const value = process.env[name] || fallback;
  if (value === undefined) throw new Error(`${name} must be set`);
  return value;
}
const num = (name: string, fallback?: number) => Number(env(name, fallback === undefined ? undefined : String(fallback)));

export const handler = createAutoscalerHandler({
  ecs: new ECSClient({}),
  cloudwatch: new CloudWatchClient({}),
  db: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  table: env('STREAMS_TABLE'),
  cluster: env('CLUSTER_NAME'),
  service: env('SERVICE_NAME'),
  metricsServiceName: env('METRICS_SERVICE_NAME', process.env.SERVICE_NAME),
  namespace: env('METRICS_NAMESPACE', 'Bridgecast'),
  policy: {
    ...DEFAULT_POLICY,
    minTasks: num('MIN_TASKS'),
    maxTasks: num('MAX_TASKS'),
    targetPublishersPerTask: num('TARGET_PUBLISHERS_PER_TASK', DEFAULT_POLICY.targetPublishersPerTask),
    targetEgressBitsPerTask: num('TARGET_EGRESS_MBPS_PER_TASK', DEFAULT_POLICY.targetEgressBitsPerTask / 1e6) * 1e6,
    scaleOutCooldownMs: num('SCALE_OUT_COOLDOWN_SECONDS', DEFAULT_POLICY.scaleOutCooldownMs / 1000) * 1000,
    scaleInCooldownMs: num('SCALE_IN_COOLDOWN_SECONDS', DEFAULT_POLICY.scaleInCooldownMs / 1000) * 1000,
  },
  logger: pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'bridgecast-autoscaler' } }),
});
