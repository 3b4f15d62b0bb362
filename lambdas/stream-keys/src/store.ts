import { GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { RECORDING_SK_PREFIX, STREAM_META_SK, STREAMS_TABLE_SCHEMA, streamPk } from '@bridgecast/contracts';
import type { TableKey } from './cursor.js';
import { generateStreamId, generateStreamKey, hashStreamKey } from './keys.js';
import { publishVerifierForKey } from './publish-proof.js';

/**
 * Stream records in the shared single-table design (see the contracts):
 * pk `STREAM#<id>`, sk `META` for the stream, sk `REC#<broadcastId>` for
 * recordings. Only the SHA-256 of a key is stored, in `keyHash`, which the
 * sparse `keyHash-index` GSI makes searchable. Used by the stream-keys Lambda
 * and by the media service's publish authorizer.
 */

export type StreamStatus = 'active' | 'revoked';

export interface StreamRecord {
  streamId: string;
  name: string;
  status: StreamStatus;
  /** Bumped by every rotation and by revocation; the condition that makes concurrent writes lose. */
  keyVersion: number;
  createdAt: string;
  updatedAt: string;
  rotatedAt?: string;
  revokedAt?: string;
  /** Private streams are played only with a playback credential (absent on older records: public). */
  private: boolean;
}

/** What a publish check needs besides the stream: the Ed25519 public key that KCP publish proofs are checked with. */
export interface PublishingStream extends StreamRecord {
  /** Absent on streams whose key was issued before publish proofs existed (rotate to get one). */
  publishVerifier?: string;
}

export interface RecordingRecord {
  broadcastId: string;
  startedAt?: string;
  endedAt?: string;
  segments?: number;
  durationSeconds?: number;
  status?: string;
  vodKey?: string;
}

export interface Page<T> {
  items: T[];
  /** Where the next page starts; absent on the last page. */
  nextKey?: TableKey;
}

export interface PageRequest {
  limit: number;
  startAfter?: TableKey;
}

export class StreamNotFoundError extends Error {
  constructor(readonly streamId: string) {
    super(`stream ${streamId} does not exist`);
    this.name = 'StreamNotFoundError';
  }
}

export class StreamRevokedError extends Error {
  constructor(readonly streamId: string) {
    super(`stream ${streamId} is revoked`);
    this.name = 'StreamRevokedError';
  }
}

/** Another rotation or revocation changed the stream between our read and our write. */
export class ConcurrentUpdateError extends Error {
  constructor(readonly streamId: string) {
    super(`stream ${streamId} was changed concurrently`);
    this.name = 'ConcurrentUpdateError';
  }
}

const META = STREAM_META_SK;
const RECORDING_PREFIX = RECORDING_SK_PREFIX;
const KEY_HASH_INDEX = STREAMS_TABLE_SCHEMA.keyHashIndex.name;

/** Scan pages read this many items at a time while collecting a page of streams. */
const SCAN_BATCH = 100;

function toStreamRecord(item: Record<string, unknown>): StreamRecord {
  return {
    streamId: String(item.streamId),
    name: String(item.name),
    status: item.status === 'active' ? 'active' : 'revoked',
    keyVersion: Number(item.keyVersion),
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    ...(typeof item.rotatedAt === 'string' ? { rotatedAt: item.rotatedAt } : {}),
    ...(typeof item.revokedAt === 'string' ? { revokedAt: item.revokedAt } : {}),
    private: item.private === true,
  };
}

function toRecordingRecord(item: Record<string, unknown>): RecordingRecord {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const record: RecordingRecord = {
    broadcastId: str(item.broadcastId) ?? String(item.sk).slice(RECORDING_PREFIX.length),
    startedAt: str(item.startedAt),
    endedAt: str(item.endedAt),
    segments: num(item.segments),
    durationSeconds: num(item.durationSeconds),
    status: str(item.status),
    vodKey: str(item.vodKey),
  };
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as RecordingRecord;
}

const tableKey = (item: Record<string, unknown>): TableKey => ({ pk: String(item.pk), sk: String(item.sk) });

export class StreamKeyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Creates an active stream; the returned key is never retrievable again. */
  async createStream(name: string, options: { private?: boolean } = {}): Promise<{ stream: StreamRecord; streamKey: string }> {
    const streamKey = generateStreamKey();
    const at = this.now().toISOString();
    const stream: StreamRecord = {
      streamId: generateStreamId(), name, status: 'active', keyVersion: 1, createdAt: at, updatedAt: at, private: options.private === true,
    };
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: streamPk(stream.streamId), sk: META, ...stream, keyHash: hashStreamKey(streamKey), publishVerifier: publishVerifierForKey(streamKey) },
        // 80 random bits make a collision absurd, but an overwrite would hijack a stream, so make it impossible.
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return { stream, streamKey };
  }

  async getStream(streamId: string): Promise<StreamRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: streamPk(streamId), sk: META }, ConsistentRead: true }),
    );
    return Item ? toStreamRecord(Item) : undefined;
  }

  async isStreamActive(streamId: string): Promise<boolean> {
    return (await this.getStream(streamId))?.status === 'active';
  }

  /**
   * Streams in table order. There is no index by type (the table design is
   * shared), so this scans for `META` items; fine for the number of streams
   * one newsroom issues. A page ends early only at the end of the table.
   */
  async listStreams({ limit, startAfter }: PageRequest): Promise<Page<StreamRecord>> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined = startAfter && { ...startAfter };
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'sk = :meta',
          ExpressionAttributeValues: { ':meta': META },
          ExclusiveStartKey: start,
          Limit: SCAN_BATCH,
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start && items.length < limit);
    if (items.length > limit) {
      // The batch overshot: resume right after the last item we return.
      const kept = items.slice(0, limit);
      return { items: kept.map(toStreamRecord), nextKey: tableKey(kept[kept.length - 1]) };
    }
    return { items: items.map(toStreamRecord), ...(start ? { nextKey: tableKey(start) } : {}) };
  }

  /** Issues a new key; the old one stops resolving at once. Exactly one of two concurrent rotations wins. */
  async rotateKey(streamId: string): Promise<{ stream: StreamRecord; streamKey: string }> {
    const current = await this.requireActive(streamId);
    const streamKey = generateStreamKey();
    const at = this.now().toISOString();
    const attributes = await this.conditionalUpdate(current, {
      UpdateExpression: 'SET keyHash = :hash, publishVerifier = :verifier, keyVersion = :next, rotatedAt = :at, updatedAt = :at',
      ExpressionAttributeValues: { ':hash': hashStreamKey(streamKey), ':verifier': publishVerifierForKey(streamKey), ':at': at },
    });
    return { stream: toStreamRecord(attributes), streamKey };
  }

  /**
   * Revokes a stream: the record stays (status `revoked`, for audit) but its
   * keyHash is removed, so the sparse index no longer finds it.
   */
  async revokeStream(streamId: string): Promise<StreamRecord> {
    const current = await this.requireActive(streamId);
    const at = this.now().toISOString();
    const attributes = await this.conditionalUpdate(current, {
      UpdateExpression: 'SET #status = :revoked, keyVersion = :next, revokedAt = :at, updatedAt = :at REMOVE keyHash, publishVerifier',
      ExpressionAttributeValues: { ':revoked': 'revoked', ':at': at },
    });
    return toStreamRecord(attributes);
  }

  /** The active stream a key belongs to, or undefined for unknown and revoked keys. */
  async resolveKey(streamKey: string): Promise<StreamRecord | undefined> {
    return this.resolveKeyHash(hashStreamKey(streamKey));
  }

  /**
   * The active stream whose key has this SHA-256, with what checks its
   * publish proofs (a KCP publisher names its key by hash, see publish-proof.ts).
   */
  async resolveKeyHash(keyHash: string): Promise<PublishingStream | undefined> {
    const { Items } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: KEY_HASH_INDEX,
        KeyConditionExpression: 'keyHash = :hash',
        ExpressionAttributeValues: { ':hash': keyHash },
        Limit: 2,
      }),
    );
    if (!Items || Items.length !== 1) return undefined;
    // The index is eventually consistent: confirm against the base item, so a
    // key rotated or revoked a moment ago is not accepted from a stale index.
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: Items[0].pk, sk: META }, ConsistentRead: true }),
    );
    if (!Item || Item.keyHash !== keyHash || Item.status !== 'active') return undefined;
    const stream = toStreamRecord(Item);
    return typeof Item.publishVerifier === 'string' ? { ...stream, publishVerifier: Item.publishVerifier } : stream;
  }

  /** Recordings of a stream, newest first (broadcast ids sort by start time). */
  async listRecordings(streamId: string, { limit, startAfter }: PageRequest): Promise<Page<RecordingRecord>> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :rec)',
        ExpressionAttributeValues: { ':pk': streamPk(streamId), ':rec': RECORDING_PREFIX },
        ScanIndexForward: false,
        ExclusiveStartKey: startAfter,
        Limit: limit,
      }),
    );
    return {
      items: (page.Items ?? []).map(toRecordingRecord),
      ...(page.LastEvaluatedKey ? { nextKey: tableKey(page.LastEvaluatedKey) } : {}),
    };
  }

  private async requireActive(streamId: string): Promise<StreamRecord> {
    const stream = await this.getStream(streamId);
    if (!stream) throw new StreamNotFoundError(streamId);
    if (stream.status !== 'active') throw new StreamRevokedError(streamId);
    return stream;
  }

  /** Applies an update only if nobody changed the stream since `current` was read. */
  private async conditionalUpdate(
    current: StreamRecord,
    update: { UpdateExpression: string; ExpressionAttributeValues: Record<string, unknown> },
  ): Promise<Record<string, unknown>> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: streamPk(current.streamId), sk: META },
          UpdateExpression: update.UpdateExpression,
          ConditionExpression: 'keyVersion = :expected AND #status = :active',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ...update.ExpressionAttributeValues,
            ':expected': current.keyVersion,
            ':next': current.keyVersion + 1,
            ':active': 'active',
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ?? {};
    } catch (err) {
      // Matched by name: instanceof breaks when two copies of the SDK are installed.
      if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
      const now = await this.getStream(current.streamId);
      if (now?.status === 'revoked') throw new StreamRevokedError(current.streamId);
      throw new ConcurrentUpdateError(current.streamId);
    }
  }
}
