/**
 * CloudWatch metrics as embedded metric format (EMF) log lines: the task
 * prints one JSON line a minute to stdout, the awslogs driver ships it, and
 * CloudWatch extracts the metrics, with no PutMetricData calls or
 * credentials. The autoscaler reads Publishers and EgressBitsPerSecond
 * summed over the [ServiceName] dimension.
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

export function startEmfReporter(options: {
  identity: EmfIdentity;
  intervalMs: number;
  sample: () => EmfSample;
  write: (line: string) => void;
}): { stop(): void } {
  const timer = setInterval(() => options.write(`${emfLine(options.identity, options.sample(), Date.now())}\n`), options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/**
 * The task's identity from the ECS task metadata endpoint v4
 * (`$ECS_CONTAINER_METADATA_URI_V4/task`): the task id from its ARN and the
 * service name (ServiceName on recent agents, else the task family).
 */
export async function readEcsTaskIdentity(metadataUri: string, fetchImpl: typeof fetch = fetch): Promise<{ serviceName: string; taskId: string }> {
  const res = await fetchImpl(`${metadataUri}/task`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`task metadata: HTTP ${res.status}`);
  const task = (await res.json()) as { TaskARN?: string; ServiceName?: string; Family?: string };
  const taskId = task.TaskARN?.split('/').pop();
  const serviceName = task.ServiceName ?? task.Family;
  if (!taskId || !serviceName) throw new Error('task metadata without TaskARN or service name');
  return { serviceName, taskId };
}
