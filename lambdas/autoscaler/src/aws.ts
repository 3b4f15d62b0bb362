import { GetMetricDataCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, UpdateServiceCommand, type ECSClient } from '@aws-sdk/client-ecs';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** How far back to look: the media tasks emit every 60 s; five minutes tolerates a late or missed emission. */
const LOOKBACK_MS = 5 * 60_000;

export interface ServiceLoad {
  publishers: number | undefined;
  egressBitsPerSecond: number | undefined;
}

/**
 * The latest per-minute sum over the service's tasks of the metrics the
 * media service emits (embedded metric format, [ServiceName] dimension).
 */
export async function readServiceLoad(cw: CloudWatchClient, namespace: string, serviceName: string, now: Date): Promise<ServiceLoad> {
  const metric = (id: string, name: string) => ({
    Id: id,
    MetricStat: {
      Metric: { Namespace: namespace, MetricName: name, Dimensions: [{ Name: 'ServiceName', Value: serviceName }] },
      Period: 60,
      Stat: 'Sum',
    },
  });
  const result = await cw.send(new GetMetricDataCommand({
    StartTime: new Date(now.getTime() - LOOKBACK_MS),
    EndTime: now,
    ScanBy: 'TimestampDescending',
    MetricDataQueries: [metric('publishers', 'Publishers'), metric('egress', 'EgressBitsPerSecond')],
  }));
  const latest = (id: string) => result.MetricDataResults?.find((r) => r.Id === id)?.Values?.[0];
  return { publishers: latest('publishers'), egressBitsPerSecond: latest('egress') };
}

export async function readDesiredCount(ecs: ECSClient, cluster: string, service: string): Promise<number> {
  const result = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
  const found = result.services?.[0];
  if (!found || found.desiredCount === undefined) throw new Error(`service ${service} not found in ${cluster}`);
  return found.desiredCount;
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
  const result = await db.send(new GetCommand({ TableName: table, Key: { pk: 'AUTOSCALER', sk: `STATE#${service}` } }));
  return { lastScaleOutAt: result.Item?.lastScaleOutAt as number | undefined, lastScaleInAt: result.Item?.lastScaleInAt as number | undefined };
}

export async function saveState(db: DynamoDBDocumentClient, table: string, service: string, state: ScalingState): Promise<void> {
  await db.send(new PutCommand({ TableName: table, Item: { pk: 'AUTOSCALER', sk: `STATE#${service}`, ...state } }));
}
