import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { MediaConfig } from '../config.js';
import { DynamoEdgeLinkStore, MemoryEdgeLinkStore, type EdgeLinkStore } from '../edge/link-record.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { Logger } from '../logger.js';
import type { TaskAddress } from './lease.js';
import { DynamoLeaseStore, MemoryLeaseStore } from './lease-store.js';
import { LiveRegistry } from './live-registry.js';
import { resolveTaskAddress } from './task-address.js';

export interface ClusterMembership {
  readonly registry: LiveRegistry;
  /** True when the registry is shared (STREAMS_TABLE): other tasks exist and streams are pulled from their owners. */
  readonly shared: boolean;
  /** Records of origin↔edge links, in the same table as the leases (or in memory), for /api/live on every task. */
  readonly links: EdgeLinkStore;
  close(): Promise<void>;
}

/**
 * The registry of live streams: in the streams table when there is one (a
 * cluster, in AWS or the local cluster script), else in memory (one process:
 * `npm start`, where the leases only restate the hub).
 */
export async function joinCluster(config: MediaConfig, hub: StreamHub, ports: () => Omit<TaskAddress, 'owner' | 'address'>, logger: Logger): Promise<ClusterMembership> {
  const shared = config.streamsTable !== undefined;
  const address = shared ? await resolveTaskAddress(config.clusterAddress, config.ecsMetadataUri) : '127.0.0.1';
  const client = shared
    ? DynamoDBDocumentClient.from(new DynamoDBClient({ region: config.awsRegion }), { marshallOptions: { removeUndefinedValues: true } })
    : undefined;
  const store = client ? new DynamoLeaseStore(client, config.streamsTable!) : new MemoryLeaseStore();
  const registry = new LiveRegistry({
    store, hub, logger, takeoverMs: config.limits.publisherTakeoverMs,
    self: () => ({ owner: config.relay.serverId, address, ...ports() }),
  });
  if (shared) {
    logger.info({ task: config.relay.serverId, address, leaseBoundMs: registry.deadTaskBoundMs, relayAuth: config.relay.secret !== undefined }, 'cluster member: streams registry shared');
    if (config.relay.secret === undefined) logger.warn('no RELAY_SECRET: pulls between tasks are plain plays, decided by play tokens');
  }
  return {
    registry, shared,
    links: client ? new DynamoEdgeLinkStore(client, config.streamsTable!) : new MemoryEdgeLinkStore(),
    async close() {
      await registry.close();
      client?.destroy();
    },
  };
}
