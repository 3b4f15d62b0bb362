import type { EdgeLinkRecord } from '../edge/link-record.js';
import { LINK_FIGURES } from './edge-link-metrics.js';

/**
 * CloudWatch metrics as embedded metric format (EMF) log lines: the task
 * prints one JSON line a minute to stdout, the awslogs driver ships it, and
 * CloudWatch extracts the metrics, with no PutMetricData calls or
 * credentials. The autoscaler reads Publishers and EgressBitsPerSecond
 * summed over the [ServiceName] dimension (and Publishers' SampleCount: how
 * many tasks reported), so ServiceName must be the ECS service name the
 * autoscaler is configured with: METRICS_SERVICE_NAME on both.
 */
export interface EmfSample {
  publishers: number;
  viewers: number;
  ingestBitsPerSecond: number;
  egressBitsPerSecond: number;
  kcpRetransmitRatio: number;
  kcpRttMs: number;
}

export interface EmfIdentity {
  namespace: string;
  serviceName: string;
  taskId: string;
}

const UNITS: Record<keyof EmfSample, string> = {
  publishers: 'Count',
  viewers: 'Count',
  ingestBitsPerSecond: 'Bits/Second',
  egressBitsPerSecond: 'Bits/Second',
  kcpRetransmitRatio: 'None',
  kcpRttMs: 'Milliseconds',
};

const METRIC_NAMES: Record<keyof EmfSample, string> = {
  publishers: 'Publishers',
  viewers: 'Viewers',
  ingestBitsPerSecond: 'IngestBitsPerSecond',
  egressBitsPerSecond: 'EgressBitsPerSecond',
  kcpRetransmitRatio: 'KcpRetransmitRatio',
  kcpRttMs: 'KcpRttMs',
};

/** One EMF document (pure). */
export function emfLine(identity: EmfIdentity, sample: EmfSample, timestamp: number): string {
  const keys = Object.keys(METRIC_NAMES) as (keyof EmfSample)[];
  const values = Object.fromEntries(keys.map((k) => [METRIC_NAMES[k], sample[k]]));
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [{
        Namespace: identity.namespace,
        Dimensions: [['ServiceName'], ['ServiceName', 'TaskId']],
        Metrics: keys.map((k) => ({ Name: METRIC_NAMES[k], Unit: UNITS[k] })),
      }],
    },
    ServiceName: identity.serviceName,
    TaskId: identity.taskId,
    ...values,
  });
}

/**
 * One EMF document per origin-edge link this task measured (pure): the
 * figures it has (a side measures only some), EdgeLinkDown and
 * EdgeLinkBehind as 0/1 (alarm on their Maximum), dimensions Edge and Side,
 * and with Stream for per-stream graphs.
 */
export function edgeLinkEmfLine(identity: EmfIdentity, link: EdgeLinkRecord, timestamp: number): string {
  const present = LINK_FIGURES.filter(({ field }) => typeof link[field] === 'number');
  const metrics = [
    ...present.map(({ emf, unit }) => ({ Name: emf, Unit: unit })),
    { Name: 'EdgeLinkDown', Unit: 'Count' },
    { Name: 'EdgeLinkBehind', Unit: 'Count' },
  ];
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [{
        Namespace: identity.namespace,
        Dimensions: [['ServiceName', 'Edge', 'Side'], ['ServiceName', 'Edge', 'Side', 'Stream']],
        Metrics: metrics,
      }],
    },
    ServiceName: identity.serviceName,
    TaskId: identity.taskId,
    Edge: link.edge,
    Side: link.side,
    Stream: `${link.app}/${link.name}`,
    ...Object.fromEntries(present.map(({ field, emf }) => [emf, link[field]])),
    EdgeLinkDown: link.state === 'down' ? 1 : 0,
    EdgeLinkBehind: link.state === 'behind' ? 1 : 0,
  });
}

/**
 * Emits once per wall-clock minute, at `offsetMs` into it (default :30), so
 * every task puts exactly one data point into each one-minute bucket: the
 * autoscaler sums a bucket over the tasks and compares its SampleCount with
 * the running task count. (A free-running 60 s interval drifts and can put
 * two points, or none, into one bucket.)
 */
export function startEmfReporter(options: {
  identity: EmfIdentity;
  intervalMs?: number;
  offsetMs?: number;
  sample: () => EmfSample;
  /** More documents for the same minute (the edge links). */
  extraLines?: (timestamp: number) => string[];
  write: (line: string) => void;
  now?: () => number;
}): { stop(): void } {
  const interval = options.intervalMs ?? 60_000;
  const offset = options.offsetMs ?? interval / 2;
  const now = options.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // Timers may fire a millisecond before the wall clock reaches their slot;
  // the next slot is therefore counted from the slot just served, not from
  // now(), or an early timer would emit twice in one bucket; for the same
  // reason the line is stamped no earlier than its slot.
  const schedule = (served: number) => {
    if (stopped) return;
    const t = Math.max(now(), served);
    let next = Math.floor(t / interval) * interval + offset;
    if (next <= t) next += interval;
    timer = setTimeout(() => {
      const timestamp = Math.max(now(), next);
      options.write(`${emfLine(options.identity, options.sample(), timestamp)}\n`);
      for (const line of options.extraLines?.(timestamp) ?? []) options.write(`${line}\n`);
      schedule(next);
    }, next - now());
    timer.unref();
  };
  schedule(Number.NEGATIVE_INFINITY);
  return { stop: () => { stopped = true; clearTimeout(timer); } };
}

/**
 * The task's identity from the ECS task metadata endpoint v4
 * (`$ECS_CONTAINER_METADATA_URI_V4/task`): the task id from its ARN, the
 * service name when the agent reports one (ServiceName), and the family.
 * The family is NOT the service name the autoscaler queries; the
 * deployment passes METRICS_SERVICE_NAME, which wins over both.
 */
export async function readEcsTaskIdentity(metadataUri: string, fetchImpl: typeof fetch = fetch): Promise<{ serviceName: string | undefined; family: string | undefined; taskId: string }> {
  const res = await fetchImpl(`${metadataUri}/task`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`task metadata: HTTP ${res.status}`);
  const task = (await res.json()) as { TaskARN?: string; ServiceName?: string; Family?: string };
  const taskId = task.TaskARN?.split('/').pop();
  if (!taskId) throw new Error('task metadata without TaskARN');
  return { serviceName: task.ServiceName || undefined, family: task.Family || undefined, taskId };
}

/** The ServiceName dimension: METRICS_SERVICE_NAME, else the metadata's ServiceName, else the family (with a warning from the caller). */
export function metricsServiceName(configured: string | undefined, identity: { serviceName?: string; family?: string } | undefined): { name: string; guessed: boolean } {
  if (configured) return { name: configured, guessed: false };
  if (identity?.serviceName) return { name: identity.serviceName, guessed: false };
  return { name: identity?.family ?? 'bridgecast', guessed: true };
}
