import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from 'pino';
import { HLS_OBJECT_META, broadcastStartTime, parseRecordingKey, recordingSk, segmentSkPrefix, streamPk } from '@bridgecast/contracts';
import { renderVodPlaylist, type IndexedSegment } from '@bridgecast/contracts';

export interface IndexerOptions {
  s3: S3Client;
  db: DynamoDBDocumentClient;
  table: string;
  bucket: string;
  /** HLS_PREFIX of the media service; object keys in events carry it. */
  prefix: string;
  logger: Logger;
}

/**
 * Keeps the index of recordings as segments land in S3. Every step is
 * idempotent and order-free, so S3 events delivered twice, late or out of
 * order converge on the same state:
 *  - each segment is its own item (pk STREAM#<id>, sk SEG#<broadcast>#<seq>),
 *    written with a plain put;
 *  - end.json records the number of segments the broadcast stored;
 *  - whenever the count of segment items reaches that number, vod.m3u8 is
 *    (re)written from the items and the recording item (sk REC#<broadcast>,
 *    the one the stream-keys API lists) is marked complete.
 */
export class RecordingIndexer {
  constructor(private readonly o: IndexerOptions) {}

  async handleObject(rawKey: string): Promise<void> {
    const key = rawKey.startsWith(this.o.prefix) ? rawKey.slice(this.o.prefix.length) : rawKey;
    const object = parseRecordingKey(key);
    if (!object) return; // playlists and our own vod.m3u8: nothing to index
    const pk = streamPk(object.streamId);
    const recSk = recordingSk(object.broadcastId);
    if (object.kind === 'segment') {
      const head = await this.o.s3.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key: rawKey }));
      const duration = Number(head.Metadata?.duration);
      if (!Number.isFinite(duration) || duration <= 0) throw new Error(`segment ${rawKey} has no valid duration metadata`);
      await this.o.db.send(new PutCommand({
        TableName: this.o.table,
        Item: { pk, sk: `${segmentSkPrefix(object.broadcastId)}${String(object.sequence).padStart(9, '0')}`, sequence: object.sequence, durationSeconds: duration },
      }));
      await this.o.db.send(new UpdateCommand({
        TableName: this.o.table,
        Key: { pk, sk: recSk },
        UpdateExpression: 'SET broadcastId = :b, startedAt = if_not_exists(startedAt, :t), #s = if_not_exists(#s, :recording)',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':b': object.broadcastId, ':t': broadcastStartTime(object.broadcastId) ?? new Date().toISOString(), ':recording': 'recording' },
      }));
    } else {
      const body = await this.o.s3.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: rawKey }));
      const end = JSON.parse(await body.Body!.transformToString()) as { segments?: unknown; endedAt?: unknown };
      if (typeof end.segments !== 'number' || !Number.isInteger(end.segments) || end.segments < 0) throw new Error(`${rawKey}: no segment count`);
      await this.o.db.send(new UpdateCommand({
        TableName: this.o.table,
        Key: { pk, sk: recSk },
        UpdateExpression: 'SET broadcastId = :b, expectedSegments = :n, endedAt = :e, startedAt = if_not_exists(startedAt, :t), #s = if_not_exists(#s, :recording)',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: {
          ':b': object.broadcastId, ':n': end.segments, ':e': typeof end.endedAt === 'string' ? end.endedAt : new Date().toISOString(),
          ':t': broadcastStartTime(object.broadcastId) ?? new Date().toISOString(), ':recording': 'recording',
        },
      }));
    }
    await this.completeIfReady(object.streamId, object.broadcastId, rawKey.slice(0, rawKey.lastIndexOf('/') + 1));
  }

  private async completeIfReady(streamId: string, broadcastId: string, dirKey: string): Promise<void> {
    const pk = streamPk(streamId);
    const rec = await this.o.db.send(new QueryCommand({
      TableName: this.o.table,
      KeyConditionExpression: 'pk = :pk AND sk = :sk',
      ExpressionAttributeValues: { ':pk': pk, ':sk': recordingSk(broadcastId) },
      // Strongly consistent: the last segment and end.json may be indexed
      // concurrently; each must see the other's write, or neither completes.
      ConsistentRead: true,
    }));
    const expected = rec.Items?.[0]?.expectedSegments as number | undefined;
    if (expected === undefined) return; // still live, or end.json not seen yet
    const segments = await this.segmentsOf(pk, broadcastId);
    if (segments.length < expected) return; // more segment events to come
    const vodKey = `${dirKey}vod.m3u8`;
    await this.o.s3.send(new PutObjectCommand({
      Bucket: this.o.bucket, Key: vodKey, Body: renderVodPlaylist(segments),
      ContentType: HLS_OBJECT_META.vodPlaylist.contentType, CacheControl: HLS_OBJECT_META.vodPlaylist.cacheControl,
    }));
    await this.o.db.send(new UpdateCommand({
      TableName: this.o.table,
      Key: { pk, sk: recordingSk(broadcastId) },
      UpdateExpression: 'SET #s = :complete, #n = :n, durationSeconds = :d, vodKey = :k',
      ExpressionAttributeNames: { '#s': 'status', '#n': 'segments' }, // both are DynamoDB reserved words
      ExpressionAttributeValues: {
        ':complete': 'complete', ':n': segments.length, ':k': vodKey,
        ':d': Math.round(segments.reduce((sum, s) => sum + s.durationSeconds, 0) * 1000) / 1000,
      },
    }));
    this.o.logger.info({ streamId, broadcastId, segments: segments.length }, 'recording complete; VOD playlist written');
  }

  private async segmentsOf(pk: string, broadcastId: string): Promise<IndexedSegment[]> {
    const segments: IndexedSegment[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.o.db.send(new QueryCommand({
        TableName: this.o.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :seg)',
        ExpressionAttributeValues: { ':pk': pk, ':seg': segmentSkPrefix(broadcastId) },
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }));
      for (const item of page.Items ?? []) segments.push({ sequence: Number(item.sequence), durationSeconds: Number(item.durationSeconds) });
      start = page.LastEvaluatedKey;
    } while (start);
    return segments;
  }
}
