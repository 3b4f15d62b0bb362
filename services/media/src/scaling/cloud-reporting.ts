import os from 'node:os';
import type { MediaConfig } from '../config.js';
import type { EgressMeters } from '../hub/egress-meter.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { KcpServerEndpoint } from 'kcp-ts/node';
import type { Logger } from '../logger.js';
import type { EdgeLinkRecord } from '../edge/link-record.js';
import { edgeLinkEmfLine, metricsServiceName, readEcsTaskIdentity, startEmfReporter, type EmfSample } from '../metrics/emf.js';
import { kcpHealth } from '../metrics/kcp-metrics.js';
import { startTaskProtection } from './task-protection.js';

export interface CloudReportingSources {
  hub: StreamHub;
  egress: EgressMeters;
  kcp: KcpServerEndpoint | undefined;
  /** The origin-edge links this task measured (each becomes its own EMF document). */
  edgeLinks?: () => EdgeLinkRecord[];
}

/** What the autoscaler and CloudWatch see of this task, sampled from the hub and meters. */
export function sampleLoad({ hub, egress, kcp }: CloudReportingSources): EmfSample {
  const streams = hub.list();
  const health = kcp ? kcpHealth(kcp) : { retransmitRatio: 0, rttMs: 0 };
  return {
    publishers: streams.filter((s) => s.publisher.protocol !== 'relay').length,
    viewers: streams.reduce((sum, s) => sum + s.viewerCount, 0),
    ingestBitsPerSecond: streams.reduce((sum, s) => sum + s.ingest.bitsPerSecond(), 0),
    egressBitsPerSecond: egress.bitsPerSecond(),
    kcpRetransmitRatio: health.retransmitRatio,
    kcpRttMs: health.rttMs,
  };
}

/**
 * The task's part in scaling on ECS: EMF metrics every minute (EMF=true,
 * on by default when the ECS metadata endpoint exists; ServiceName from
 * METRICS_SERVICE_NAME, which the deployment sets to what the autoscaler
 * queries) and scale-in
 * protection while publishers are live (when ECS_AGENT_URI is set).
 */
export async function startCloudReporting(config: MediaConfig, sources: CloudReportingSources, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const stops: Array<() => Promise<void> | void> = [];
  if (config.emfEnabled) {
    const identity = config.ecsMetadataUri
      ? await readEcsTaskIdentity(config.ecsMetadataUri).catch((err: unknown) => {
        logger.warn({ err }, 'ECS task metadata unavailable; metrics named after the host');
        return undefined;
      })
      : undefined;
    const serviceName = metricsServiceName(config.metricsServiceName, identity);
    if (serviceName.guessed) {
      logger.warn({ serviceName: serviceName.name }, 'METRICS_SERVICE_NAME unset and no ServiceName in the task metadata: the autoscaler may not find these metrics');
    }
    const emfIdentity = { namespace: config.metricsNamespace, serviceName: serviceName.name, taskId: identity?.taskId ?? os.hostname() };
    const reporter = startEmfReporter({
      identity: emfIdentity,
      intervalMs: 60_000,
      sample: () => sampleLoad(sources),
      extraLines: (timestamp) => (sources.edgeLinks?.() ?? []).map((link) => edgeLinkEmfLine(emfIdentity, link, timestamp)),
      write: (line) => process.stdout.write(line),
    });
    stops.push(() => reporter.stop());
  }
  if (config.ecsAgentUri) {
    const protection = startTaskProtection({
      agentUri: config.ecsAgentUri,
      hasPublishers: () => sources.hub.list().some((s) => s.publisher.protocol !== 'relay'),
      logger,
    });
    stops.push(() => protection.stop());
  }
  return { stop: async () => { for (const stop of stops) await stop(); } };
}
