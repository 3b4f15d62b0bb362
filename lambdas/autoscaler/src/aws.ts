import { GetMetricDataCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, UpdateServiceCommand, type ECSClient } from '@aws-sdk/client-ecs';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { autoscalerStateKey } from '@bridgecast/contracts';

const MINUTE = 60_000;
/**
 * EMF lines reach CloudWatch metrics through the log pipeline, seconds to
 * a minute or so late. The tasks emit at :30 of each minute, so a bucket
 * whose minute ended INGESTION_DELAY_MS ago has had its last point for at
 * least 90 s.
 */
export const INGESTION_DELAY_MS = 60_000;
/** How far back the peak load is taken over (scale-in must fit the peak of this window, not one quiet minute). */
export const PEAK_WINDOW_MS = 10 * MINUTE;

export interface ServiceLoad {
  /** Sum over the tasks in the last complete minute; undefined when that minute has no data point. */
  publishers: number | undefined;
  egressBitsPerSecond: number | undefined;
  /** How many tasks reported in that minute (SampleCount of Publishers: one point per task per minute). */
  reportingTasks: number | undefined;
  /** Largest per-minute sums over the last PEAK_WINDOW_MS (complete minutes only). */
  peakPublishers: number | undefined;
  peakEgressBitsPerSecond: number | undefined;
  /** Start of the minute the current values are from. */
  minute: Date;
}

/** End of the last minute that is complete and ingested at `now`, on a minute boundary. */
export function lastCompleteMinuteEnd(now: Date): Date {
  return new Date(Math.floor((now.getTime() - INGESTION_DELAY_MS) / MINUTE) * MINUTE);
}

/**
 * The per-minute sums over the service's tasks of the metrics the media
 * service emits (embedded metric format, [ServiceName] dimension), from the
 * last *complete* minute only: the current minute's bucket holds only the
 * tasks that already reported, and reading it (as EndTime: now did) made
 * load look lower than it is. SampleCount tells how many tasks are in it.
 */
export async function readServiceLoad(cw: CloudWatchClient, namespace: string, serviceName: string, now: Date): Promise<ServiceLoad> {
  const end = lastCompleteMinuteEnd(now);
  const minute = new Date(end.getTime() - MINUTE);
  const metric = (id: string, name: string, stat: 'Sum' | 'SampleCount') => ({
    Id: id,
    MetricStat: {
      Metric: { Namespace: namespace, MetricName: name, Dimensions: [{ Name: 'ServiceName', Value: serviceName }] },
      Period: 60,
      Stat: stat,
    },
  });
  const result = await cw.send(new GetMetricDataCommand({
    StartTime: new Date(end.getTime() - PEAK_WINDOW_MS),
    EndTime: end,
    ScanBy: 'TimestampDescending',
    MetricDataQueries: [metric('publishers', 'Publishers', 'Sum'), metric('egress', 'EgressBitsPerSecond', 'Sum'), metric('reporting', 'Publishers', 'SampleCount')],
  }));
  const series = (id: string) => {
    const r = result.MetricDataResults?.find((x) => x.Id === id);
    const values = r?.Values ?? [];
    const stamps = r?.Timestamps ?? [];
    return values.map((value, i) => ({ value, at: stamps[i] ? new Date(stamps[i]).getTime() : undefined }));
  };
  /** The value of the last complete minute exactly: an older point is stale, not "the latest". */
  const current = (id: string) => series(id).find((p) => p.at === minute.getTime())?.value;
  const peak = (id: string) => {
    const values = series(id).filter((p) => p.at !== undefined && p.at >= end.getTime() - PEAK_WINDOW_MS && p.at < end.getTime()).map((p) => p.value);
    return values.length > 0 ? Math.max(...values) : undefined;
  };
  return {
    publishers: current('publishers'),
    egressBitsPerSecond: current('egress'),
    reportingTasks: current('reporting'),
    peakPublishers: peak('publishers'),
    peakEgressBitsPerSecond: peak('egress'),
    minute,
  };
}

export interface ServiceCounts {
  desired: number;
  /** Tasks ECS reports RUNNING (the ones that should be reporting metrics). */
  running: number;
}

export async function readServiceCounts(ecs: ECSClient, cluster: string, service: string): Promise<ServiceCounts> {
  const result = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
  const found = result.services?.[0];
  if (!found || found.desiredCount === undefined) throw new Error(`service ${service} not found in ${cluster}`);
  return { desired: found.desiredCount, running: found.runningCount ?? 0 };
}

export async function setDesiredCount(ecs: ECSClient, cluster: string, service: string, desired: number): Promise<void> {
  await ecs.send(new UpdateServiceCommand({ cluster, service, desiredCount: desired }));
}

export interface ScalingState {
  lastScaleOutAt?: number;
  lastScaleInAt?: number;
}

/** Cooldown timestamps, in the streams table (pk AUTOSCALER, sk STATE#<service>): Lambda runs keep no memory. */
export async function loadState(db: DynamoDBDocumentClient, table: string, service: string): Promise<ScalingState> {
  const result = await db.send(new GetCommand({ TableName: table, Key: autoscalerStateKey(service) }));
  return { lastScaleOutAt: result.Item?.lastScaleOutAt as number | undefined, lastScaleInAt: result.Item?.lastScaleInAt as number | undefined };
}

export async function saveState(db: DynamoDBDocumentClient, table: string, service: string, state: ScalingState): Promise<void> {
  await db.send(new PutCommand({ TableName: table, Item: { ...autoscalerStateKey(service), ...state } }));
}
