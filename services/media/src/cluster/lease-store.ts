import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LIVE_LEASE_PK, liveLeaseKey, STREAMS_TABLE_TTL_ATTRIBUTE } from '@bridgecast/contracts';
import { isSameLease, type LiveLease } from './lease.js';

/**
 * Where leases live. Every write is conditional, so two tasks racing for a
 * stream cannot both win: `put` succeeds only over the version it read,
 * `renew` and `release` only on the exact lease (owner + broadcast) they name.
 */
export interface LeaseStore {
  get(app: string, name: string): Promise<LiveLease | undefined>;
  /** Writes `lease` if the stored version is still `readVersion` (undefined: no lease stored). False if someone wrote in between. */
  put(lease: LiveLease, readVersion: number | undefined): Promise<boolean>;
  /** Extends the lease; false if it is no longer this owner's broadcast (taken over). */
  renew(lease: LiveLease, expiresAt: number, lastMediaAt: number, clockOffsetMs: number | undefined): Promise<boolean>;
  release(lease: LiveLease): Promise<void>;
  list(): Promise<LiveLease[]>;
}

/** One process (`npm start`): the registry is a map. */
export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, LiveLease>();

  async get(app: string, name: string) { return this.leases.get(`${app}/${name}`); }

  async put(lease: LiveLease, readVersion: number | undefined) {
    if (this.leases.get(`${lease.app}/${lease.name}`)?.version !== readVersion) return false;
    this.leases.set(`${lease.app}/${lease.name}`, lease);
    return true;
  }

  async renew(lease: LiveLease, expiresAt: number, lastMediaAt: number, clockOffsetMs: number | undefined) {
    const stored = this.leases.get(`${lease.app}/${lease.name}`);
    if (!isSameLease(stored, lease.owner, lease.broadcastId)) return false;
    this.leases.set(`${lease.app}/${lease.name}`, { ...stored, expiresAt, lastMediaAt, ...(clockOffsetMs === undefined ? {} : { clockOffsetMs }) });
    return true;
  }

  async release(lease: LiveLease) {
    if (isSameLease(this.leases.get(`${lease.app}/${lease.name}`), lease.owner, lease.broadcastId)) this.leases.delete(`${lease.app}/${lease.name}`);
  }

  async list() { return [...this.leases.values()]; }
}

const LEASE_FIELDS = ['app', 'name', 'owner', 'address', 'rtmpPort', 'kcpPort', 'httpPort', 'broadcastId', 'expiresAt', 'lastMediaAt', 'clockOffsetMs', 'version'] as const;

function fromItem(item: Record<string, unknown> | undefined): LiveLease | undefined {
  if (!item) return undefined;
  const lease: Record<string, unknown> = {};
  for (const f of LEASE_FIELDS) if (item[f] !== undefined) lease[f] = item[f];
  return lease as unknown as LiveLease;
}

/**
 * The cluster: leases in the streams table (see `liveLeaseKey`). The actions
 * used here are exactly GetItem, PutItem, UpdateItem, DeleteItem and Query,
 * which is what the task role grants on the table.
 */
export class DynamoLeaseStore implements LeaseStore {
  constructor(private readonly client: DynamoDBDocumentClient, private readonly table: string) {}

  async get(app: string, name: string) {
    const out = await this.client.send(new GetCommand({ TableName: this.table, Key: liveLeaseKey(app, name), ConsistentRead: true }));
    return fromItem(out.Item);
  }

  async put(lease: LiveLease, readVersion: number | undefined) {
    try {
      await this.client.send(new PutCommand({
        TableName: this.table,
        Item: { ...liveLeaseKey(lease.app, lease.name), ...lease, [STREAMS_TABLE_TTL_ATTRIBUTE]: ttlSeconds(lease.expiresAt) },
        ...(readVersion === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'version = :read', ExpressionAttributeValues: { ':read': readVersion } }),
      }));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async renew(lease: LiveLease, expiresAt: number, lastMediaAt: number, clockOffsetMs: number | undefined) {
    const clock = clockOffsetMs === undefined ? undefined : Math.round(clockOffsetMs);
    try {
      await this.client.send(new UpdateCommand({
        TableName: this.table,
        Key: liveLeaseKey(lease.app, lease.name),
        UpdateExpression: `SET expiresAt = :e, lastMediaAt = :m, #ttl = :ttl${clock === undefined ? '' : ', clockOffsetMs = :c'}`,
        ConditionExpression: '#owner = :owner AND broadcastId = :b',
        ExpressionAttributeNames: { '#ttl': STREAMS_TABLE_TTL_ATTRIBUTE, '#owner': 'owner' },
        ExpressionAttributeValues: {
          ':e': expiresAt, ':m': lastMediaAt, ':ttl': ttlSeconds(expiresAt), ':owner': lease.owner, ':b': lease.broadcastId,
          ...(clock === undefined ? {} : { ':c': clock }),
        },
      }));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async release(lease: LiveLease) {
    try {
      await this.client.send(new DeleteCommand({
        TableName: this.table,
        Key: liveLeaseKey(lease.app, lease.name),
        ConditionExpression: '#owner = :owner AND broadcastId = :b',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': lease.owner, ':b': lease.broadcastId },
      }));
    } catch (err) {
      if (!isConditionFailure(err)) throw err; // already taken over: not ours to delete
    }
  }

  async list() {
    return (await queryPartition(this.client, this.table, LIVE_LEASE_PK)).map((item) => fromItem(item)!);
  }
}

/** Every item of one partition of the streams table (the leases, the edge links), page by page. */
export async function queryPartition(client: DynamoDBDocumentClient, table: string, pk: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await client.send(new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ...(start ? { ExclusiveStartKey: start } : {}),
    }));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** TTL wants epoch seconds; a minute of slack so the sweeper never races a renewal. */
function ttlSeconds(expiresAt: number): number {
  return Math.ceil(expiresAt / 1000) + 60;
}

function isConditionFailure(err: unknown): boolean {
  return (err as Error).name === 'ConditionalCheckFailedException';
}
