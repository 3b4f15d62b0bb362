import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EDGE_LINK_PK, edgeLinkKey, STREAMS_TABLE_TTL_ATTRIBUTE } from '@bridgecast/contracts';
import { queryPartition } from '../cluster/lease-store.js';
import type { LinkHealth } from './link-health.js';

/**
 * One side's view of one origin→edge link of one stream, as measured by the
 * task holding that side (see link-sample.ts for how each figure is taken).
 * Stored every LINK_REPORT_MS so /api/live on every task of the cluster
 * shows it, exported on that task's /metrics and in its EMF lines.
 */
export interface EdgeLinkRecord {
  app: string;
  name: string;
  /** The edge's name (EDGE_NAME). */
  edge: string;
  /** origin: measured by the origin task serving the link (the KCP sender); edge: by the edge task pulling it (the receiver). */
  side: 'origin' | 'edge';
  /** The task that measured it (SERVER_ID). */
  task: string;
  state: LinkHealth;
  /** Smoothed KCP RTT at this side, ms (the origin's is the reliable one: it sends the media the acks time). */
  rttMs: number | null;
  /** Edge side: share of the media's KCP segments whose first copy did not arrive (rebuilt by FEC or resent), over the last period. */
  lossRatio: number | null;
  /** Origin side: segments sent again per segment sent, over the last period. */
  retransmitRatio: number | null;
  /** Datagrams rebuilt from FEC parity on this side since the link opened (edge side: the media's). */
  fecRecovered: number | null;
  /** Edge side: the media's delay across the hop, ms (lowest over the window; hub/media-clock.ts). */
  mediaDelayMs: number | null;
  /** Edge side: the same for the most-delayed media of the window. */
  mediaDelayMaxMs: number | null;
  /** Origin side: bytes queued for the edge. */
  queueBytes: number | null;
  /** Epoch ms of the measurement. */
  updatedAt: number;
}

export interface EdgeLinkStore {
  put(record: EdgeLinkRecord): Promise<void>;
  list(): Promise<EdgeLinkRecord[]>;
}

/** How long a record stays after its last write: long enough to show a link that went down. */
export const LINK_RECORD_KEEP_MS = 5 * 60_000;

function keyOf(r: EdgeLinkRecord): string {
  return edgeLinkKey(r.side, r.app, r.name, r.edge, r.task).sk;
}

/** One process: records in a map, pruned like the table's TTL would. */
export class MemoryEdgeLinkStore implements EdgeLinkStore {
  private readonly records = new Map<string, EdgeLinkRecord>();

  constructor(private readonly now: () => number = Date.now) {}

  async put(record: EdgeLinkRecord) {
    this.records.set(keyOf(record), record);
    for (const [key, r] of this.records) if (this.now() - r.updatedAt > LINK_RECORD_KEEP_MS) this.records.delete(key);
  }

  async list() { return [...this.records.values()]; }
}

const RECORD_FIELDS = ['app', 'name', 'edge', 'side', 'task', 'state', 'rttMs', 'lossRatio', 'retransmitRatio', 'fecRecovered', 'mediaDelayMs', 'mediaDelayMaxMs', 'queueBytes', 'updatedAt'] as const;

/** A cluster: records in the streams table, next to the leases (pk EDGE_LINK). Uses only PutItem and Query, which the task role grants. */
export class DynamoEdgeLinkStore implements EdgeLinkStore {
  constructor(private readonly client: DynamoDBDocumentClient, private readonly table: string, private readonly now: () => number = Date.now) {}

  async put(record: EdgeLinkRecord) {
    await this.client.send(new PutCommand({
      TableName: this.table,
      Item: { ...edgeLinkKey(record.side, record.app, record.name, record.edge, record.task), ...record, [STREAMS_TABLE_TTL_ATTRIBUTE]: Math.ceil((record.updatedAt + LINK_RECORD_KEEP_MS) / 1000) },
    }));
  }

  async list() {
    const records: EdgeLinkRecord[] = [];
    for (const item of await queryPartition(this.client, this.table, EDGE_LINK_PK)) {
      const record: Record<string, unknown> = {};
      for (const f of RECORD_FIELDS) record[f] = item[f] ?? null;
      // DynamoDB deletes expired items lazily: skip what the TTL has already passed.
      if (this.now() - (record.updatedAt as number) <= LINK_RECORD_KEEP_MS) records.push(record as unknown as EdgeLinkRecord);
    }
    return records;
  }
}

/**
 * Checks a record an edge reported (POST /api/relay/live): the fields and
 * types above, the edge's own name and side, bounded numbers. Anything else
 * is dropped (and counted by the caller), never stored.
 */
export function parseReportedRecord(raw: unknown, edge: string, now: number): EdgeLinkRecord | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const name = /^[A-Za-z0-9_-]{1,64}$/;
  const num = (v: unknown) => (v === null ? null : typeof v === 'number' && Number.isFinite(v) && Math.abs(v) < 1e12 ? v : undefined);
  if (typeof r.app !== 'string' || !name.test(r.app) || typeof r.name !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(r.name)) return undefined;
  if (typeof r.task !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(r.task)) return undefined;
  if (r.state !== 'up' && r.state !== 'behind' && r.state !== 'down') return undefined;
  const fields = ['rttMs', 'lossRatio', 'retransmitRatio', 'fecRecovered', 'mediaDelayMs', 'mediaDelayMaxMs', 'queueBytes'] as const;
  const values = Object.fromEntries(fields.map((f) => [f, num(r[f] ?? null)]));
  if (Object.values(values).some((v) => v === undefined)) return undefined;
  // The edge's clock may differ from ours: the record is stamped on arrival.
  return { app: r.app, name: r.name, edge, side: 'edge', task: r.task, state: r.state, ...(values as Record<typeof fields[number], number | null>), updatedAt: now };
}
