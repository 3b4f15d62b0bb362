/**
 * The single streams table: stream records, their recordings and the
 * autoscaler's state, keyed pk/sk, with the sparse key-hash index the media
 * service resolves stream keys through. The CDK stack and the embedded local
 * table (dynalite) both declare it from here.
 *
 *   pk STREAM#<streamId>  sk META                      the stream (keyHash while active)
 *   pk STREAM#<streamId>  sk REC#<broadcastId>         a recording
 *   pk STREAM#<streamId>  sk SEG#<broadcastId>#<seq>   a recorded segment (indexer)
 *   pk AUTOSCALER         sk STATE#<service>           the autoscaler's state
 */
export const STREAMS_TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Only active streams carry keyHash (the SHA-256 of their key), so only they are in the index. */
  keyHashIndex: { name: 'keyHash-index', partitionKey: 'keyHash', projection: 'KEYS_ONLY' },
} as const;

export const STREAM_PK_PREFIX = 'STREAM#';
export const STREAM_META_SK = 'META';
export const RECORDING_SK_PREFIX = 'REC#';
export const SEGMENT_SK_PREFIX = 'SEG#';

export const streamPk = (streamId: string) => `${STREAM_PK_PREFIX}${streamId}`;
export const recordingSk = (broadcastId: string) => `${RECORDING_SK_PREFIX}${broadcastId}`;
export const segmentSkPrefix = (broadcastId: string) => `${SEGMENT_SK_PREFIX}${broadcastId}#`;
export const autoscalerStateKey = (service: string) => ({ pk: 'AUTOSCALER', sk: `STATE#${service}` });

/**
 * The live-stream registry shares the streams table (one table to provision,
 * back up and grant; the media tasks already read it for stream keys):
 *
 *   pk LIVE  sk <app>/<name>   the lease of a live stream (owner task, address, expiry)
 *
 * All leases sit in one partition so that one Query lists the cluster's live
 * streams (/api/live). A partition takes 1,000 writes/s; at one renewal per
 * stream every LIVE_LEASE_RENEW_MS that is about 2,000 live streams, far
 * past a cluster's size. Expiry is decided by `expiresAt` in every
 * conditional write; the table's TTL attribute (`ttl`, epoch seconds) only
 * garbage-collects leases of dead tasks, because DynamoDB deletes expired
 * items lazily (typically within days):
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html
 */
export const LIVE_LEASE_PK = 'LIVE';
export const STREAMS_TABLE_TTL_ATTRIBUTE = 'ttl';
export const liveLeaseKey = (app: string, name: string) => ({ pk: LIVE_LEASE_PK, sk: `${app}/${name}` });

/**
 * Relay links between an origin and its edges, in the same table (each
 * cluster its own: the origin's tasks write the links they serve, an edge's
 * tasks the link they pull), so /api/live on any task of either cluster
 * shows every link:
 *
 *   pk EDGE_LINK  sk <side>|<app>/<name>|<edge name>|<task>   one side's view of one link, rewritten every 2 s
 *
 * A record not rewritten for three periods reads as a link that is down;
 * the TTL attribute removes it after a few minutes.
 */
export const EDGE_LINK_PK = 'EDGE_LINK';
export const edgeLinkKey = (side: string, app: string, name: string, edge: string, task: string) => ({ pk: EDGE_LINK_PK, sk: `${side}|${app}/${name}|${edge}|${task}` });
