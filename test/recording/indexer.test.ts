/**
 * The recording indexer Lambda against a real S3-compatible server (s3rver)
 * and a real DynamoDB-compatible one (dynalite): S3 events delivered twice
 * and out of order, end.json before the last segment, a missing segment,
 * and a failing message reported alone in batchItemFailures. The stream-keys
 * API then lists the recording with its VOD URL.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Event, SQSEvent } from 'aws-lambda';
import S3rver from 's3rver';
import { createRecordingHandler } from '@bridgecast/recording';
import { RecordingIndexer } from '@bridgecast/recording';
import { createStreamKeysHandler } from '@bridgecast/stream-keys';
import { StreamKeyStore } from '@bridgecast/stream-keys';
import { startLocalDynamo, type LocalDynamo } from '@bridgecast/media/auth/local-dynamo.js';
import { silentLogger } from '@bridgecast/media/logger.js';
import { apiEvent } from '../stream-keys/fixtures.js';

const BUCKET = 'hls';
let dir: string;
let s3server: S3rver;
let s3: S3Client;
let dynamo: LocalDynamo;
let store: StreamKeyStore;
let handler: ReturnType<typeof createRecordingHandler>;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-rec-'));
  s3server = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: BUCKET, configs: [] }] });
  const { port } = await s3server.run();
  s3 = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  dynamo = await startLocalDynamo();
  store = new StreamKeyStore(dynamo.client, dynamo.tableName);
  const indexer = new RecordingIndexer({ s3, db: dynamo.client, table: dynamo.tableName, bucket: BUCKET, prefix: '', logger: silentLogger });
  handler = createRecordingHandler(indexer, silentLogger);
});

after(async () => {
  s3?.destroy();
  await s3server?.close();
  await dynamo?.close();
  await rm(dir, { recursive: true, force: true });
});

async function putSegment(streamId: string, broadcastId: string, seq: number, duration: number): Promise<string> {
  const key = `recordings/${streamId}/${broadcastId}/${seq}.ts`;
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.alloc(188, 0x47), Metadata: { duration: duration.toFixed(3), sequence: String(seq) } }));
  return key;
}

async function putEnd(streamId: string, broadcastId: string, segments: number): Promise<string> {
  const key = `recordings/${streamId}/${broadcastId}/end.json`;
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify({ streamId, broadcastId, segments, endedAt: '2026-11-25T10:00:00.000Z' }) }));
  return key;
}

let messageId = 0;
function sqsEvent(keys: string[]): SQSEvent {
  return {
    Records: keys.map((key) => {
      const s3Event = { Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: BUCKET }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/') } } }] } as unknown as S3Event;
      return { messageId: `m${++messageId}`, eventSource: 'aws:sqs', body: JSON.stringify(s3Event) } as SQSEvent['Records'][number];
    }),
  };
}

async function vod(streamId: string, broadcastId: string): Promise<string | null> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `recordings/${streamId}/${broadcastId}/vod.m3u8` }));
    return await res.Body!.transformToString();
  } catch {
    return null;
  }
}

test('duplicated, shuffled events with end.json early still give one complete VOD playlist, listed by the API', async () => {
  const { stream } = await store.createStream('desk');
  const id = stream.streamId;
  const broadcast = '20261125T093000Z-a1b2';
  const keys = [];
  for (let seq = 0; seq < 6; seq++) keys.push(await putSegment(id, broadcast, seq, seq === 3 ? 2.5 : 2));
  const end = await putEnd(id, broadcast, 6);
  // end.json first, then segments in a scrambled order with duplicates, over three batches.
  const order = [end, keys[4]!, keys[1]!, keys[4]!, keys[0]!, keys[5]!, end, keys[2]!, keys[3]!, keys[1]!];
  for (const batch of [order.slice(0, 3), order.slice(3, 7), order.slice(7)]) {
    assert.deepEqual(await handler(sqsEvent(batch)), { batchItemFailures: [] });
  }
  const playlist = await vod(id, broadcast);
  assert.ok(playlist, 'vod.m3u8 written');
  assert.equal(playlist, [
    '#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:3', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXTINF:2.000,', '0.ts', '#EXTINF:2.000,', '1.ts', '#EXTINF:2.000,', '2.ts', '#EXTINF:2.500,', '3.ts',
    '#EXTINF:2.000,', '4.ts', '#EXTINF:2.000,', '5.ts', '#EXT-X-ENDLIST', '',
  ].join('\n'));

  const api = createStreamKeysHandler({
    store, logger: silentLogger,
    urls: { ingestHost: 'ingest.example.com', rtmpPort: 1935, kcpPort: 1935, hlsBaseUrl: 'https://cdn.example.com', flvBaseUrl: 'http://ingest.example.com:8080' },
  });
  const res = await api(apiEvent('GET', `/streams/${id}/recordings`));
  assert.equal(res.statusCode, 200);
  const body = JSON.parse(res.body!) as { items: { broadcastId: string; status: string; segments: number; durationSeconds: number; startedAt: string; playback: { hls: string } }[] };
  assert.equal(body.items.length, 1);
  assert.deepEqual(
    { ...body.items[0], endedAt: undefined },
    {
      broadcastId: broadcast, status: 'complete', segments: 6, durationSeconds: 12.5, startedAt: '2026-11-25T09:30:00Z', endedAt: undefined,
      playback: { hls: `https://cdn.example.com/recordings/${id}/${broadcast}/vod.m3u8` },
    },
  );
});

test('no VOD playlist while a segment is missing; it appears when the segment does', async () => {
  const id = 'st_missingsegment';
  const broadcast = '20261125T100000Z-0001';
  const first = [await putSegment(id, broadcast, 0, 2), await putSegment(id, broadcast, 1, 2), await putEnd(id, broadcast, 3)];
  await handler(sqsEvent(first));
  assert.equal(await vod(id, broadcast), null, 'incomplete: no VOD yet');
  await handler(sqsEvent([await putSegment(id, broadcast, 2, 1.2)]));
  assert.match((await vod(id, broadcast))!, /2\.ts\n#EXT-X-ENDLIST/);
});

test('a message that cannot be indexed is reported alone; the rest of the batch is indexed; test events are ignored', async () => {
  const id = 'st_partialbatch';
  const broadcast = '20261125T110000Z-0002';
  const good = await putSegment(id, broadcast, 0, 2);
  const end = await putEnd(id, broadcast, 1);
  const event = sqsEvent([good, `recordings/${id}/${broadcast}/7.ts` /* never uploaded: HeadObject fails */, end]);
  event.Records.push({ messageId: 'test-event', eventSource: 'aws:sqs', body: JSON.stringify({ Event: 's3:TestEvent' }) } as SQSEvent['Records'][number]);
  const result = await handler(event);
  assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: event.Records[1]!.messageId }] });
  assert.match((await vod(id, broadcast))!, /0\.ts/);
});

test('the last segment and end.json indexed concurrently: every read is strongly consistent and the VOD playlist appears once complete', async () => {
  // dynalite is always consistent, so the race cannot be reproduced here; what
  // can be checked is that every Query asks DynamoDB for a strongly consistent
  // read (the base table supports it), which is what closes the race on AWS.
  const queries: Record<string, unknown>[] = [];
  const spyDb = {
    send: (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      if (command.constructor.name === 'QueryCommand') queries.push(command.input);
      return dynamo.client.send(command as never);
    },
  } as unknown as typeof dynamo.client;
  const indexer = new RecordingIndexer({ s3, db: spyDb, table: dynamo.tableName, bucket: BUCKET, prefix: '', logger: silentLogger });
  const concurrent = createRecordingHandler(indexer, silentLogger);
  for (let round = 0; round < 5; round++) {
    const id = `st_concurrent${round}`;
    const broadcast = `20261125T12000${round}Z-0003`;
    const early = [await putSegment(id, broadcast, 0, 2), await putSegment(id, broadcast, 1, 2)];
    await concurrent(sqsEvent(early));
    const last = await putSegment(id, broadcast, 2, 2);
    const end = await putEnd(id, broadcast, 3);
    const results = await Promise.all([concurrent(sqsEvent([last])), concurrent(sqsEvent([end]))]);
    assert.deepEqual(results, [{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    assert.match((await vod(id, broadcast))!, /2\.ts\n#EXT-X-ENDLIST/);
    // Completion is idempotent: a redelivered end.json rewrites the same playlist.
    const before = await vod(id, broadcast);
    await concurrent(sqsEvent([end, last]));
    assert.equal(await vod(id, broadcast), before);
  }
  assert.ok(queries.length > 0);
  for (const q of queries) assert.equal(q.ConsistentRead, true, `Query without ConsistentRead: ${JSON.stringify(q)}`);
});
