/**
 * HLS storage in S3, against a real S3-compatible server (s3rver) started
 * here: objects arrive in order with their headers and metadata; an outage
 * in the middle loses nothing; a restart of the store resumes from the
 * on-disk spool; a full spool drops replaceable playlists first and refuses
 * (loudly) what it cannot keep. End to end: ffmpeg publishes to the media
 * service with HLS_BUCKET set, S3 goes away mid-broadcast, and the recording
 * in the bucket is complete and decodes.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { silentLogger } from '@bridgecast/media/logger.js';
import { S3ObjectStore } from '@bridgecast/media/storage/s3-object-store.js';
import { SpoolFullError } from '@bridgecast/media/storage/upload-spool.js';
import { killAllChildren, runFfmpeg, startPublisher } from '../helpers/ffmpeg.js';
import { parseMediaPlaylist } from '../helpers/hls-playlist.js';
import { sleep, startTestServer, waitFor, waitForKeyframe } from '../helpers/media-server.js';

const BUCKET = 'hls';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
let workDir: string;
let s3Dir: string;
let port: number;
let s3server: S3rver | null = null;
let client: S3Client;

async function startS3(): Promise<void> {
  s3server = new S3rver({ port, address: '127.0.0.1', directory: s3Dir, silent: true, configureBuckets: [{ name: BUCKET, configs: [] }] });
  const address = await s3server.run();
  port = address.port;
}

async function stopS3(): Promise<void> {
  await s3server?.close();
  s3server = null;
}

const endpoint = () => `http://127.0.0.1:${port}`;

function openStore(spoolDir: string, maxSpoolBytes = 64 * 1024 * 1024, bucket = BUCKET, url = endpoint(), requestTimeoutMs?: number): Promise<S3ObjectStore> {
  return S3ObjectStore.open({
    bucket, prefix: 'p/', spoolDir, maxSpoolBytes, logger: silentLogger, retryBaseMs: 50, retryMaxMs: 300, ...(requestTimeoutMs ? { requestTimeoutMs } : {}),
    client: { region: 'us-east-1', endpoint: url, forcePathStyle: true, credentials: CREDENTIALS },
  });
}

async function getText(key: string): Promise<string> {
  const res = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return res.Body!.transformToString();
}

async function keys(prefix: string): Promise<string[]> {
  const res = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!).sort();
}

const segmentMeta = (seq: number) => ({
  contentType: 'video/mp2t', cacheControl: 'public, max-age=31536000, immutable', metadata: { duration: '2.000', sequence: String(seq) },
});
const playlistMeta = { contentType: 'application/vnd.apple.mpegurl', cacheControl: 'public, max-age=1' };

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-s3-'));
  s3Dir = path.join(workDir, 's3');
  port = 0;
  await startS3();
  client = new S3Client({ region: 'us-east-1', endpoint: endpoint(), forcePathStyle: true, credentials: CREDENTIALS });
});

after(async () => {
  await killAllChildren();
  client?.destroy();
  await stopS3();
  await rm(workDir, { recursive: true, force: true });
});

test('objects go up in order with content type, cache headers and metadata', async () => {
  const store = await openStore(path.join(workDir, 'spool-1'));
  await store.put('recordings/a/b/0.ts', Buffer.alloc(188 * 10, 0x47), segmentMeta(0));
  await store.put('live/a/index.m3u8', Buffer.from('#EXTM3U\n'), playlistMeta);
  assert.equal(await store.flush(5000), true);
  const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'p/recordings/a/b/0.ts' }));
  assert.equal(head.ContentType, 'video/mp2t');
  assert.equal(head.CacheControl, 'public, max-age=31536000, immutable');
  assert.deepEqual(head.Metadata, { duration: '2.000', sequence: '0' });
  assert.equal(head.ContentLength, 1880);
  assert.equal(store.spool.length, 0, 'uploaded objects leave the spool');
  await store.close();
});

test('an outage mid-broadcast loses nothing: segments wait in the spool and go up in order, the latest playlist wins', async () => {
  const store = await openStore(path.join(workDir, 'spool-2'));
  await store.put('recordings/o/b/0.ts', Buffer.from('seg0'), segmentMeta(0));
  assert.equal(await store.flush(5000), true);
  await stopS3();
  for (let seq = 1; seq <= 20; seq++) {
    await store.put(`recordings/o/b/${seq}.ts`, Buffer.from(`seg${seq}`), segmentMeta(seq));
    await store.put('live/o/index.m3u8', Buffer.from(`playlist up to ${seq}`), playlistMeta);
  }
  assert.equal(await store.flush(300), false, 'nothing can be uploaded while S3 is down');
  assert.equal(store.spool.length, 21, '20 segments and only the newest playlist wait');
  await startS3();
  assert.equal(await store.flush(15_000), true);
  assert.deepEqual(await keys('p/recordings/o/'), Array.from({ length: 21 }, (_, i) => `p/recordings/o/b/${i}.ts`).sort());
  assert.equal(await getText('p/recordings/o/b/17.ts'), 'seg17');
  assert.equal(await getText('p/live/o/index.m3u8'), 'playlist up to 20');
  assert.ok(store.counters.retries > 0);
  await store.close();
});

test('a new process resumes the uploads an earlier one left in the spool', async () => {
  const spoolDir = path.join(workDir, 'spool-3');
  await stopS3();
  const first = await openStore(spoolDir);
  for (let seq = 0; seq < 5; seq++) await first.put(`recordings/r/b/${seq}.ts`, Buffer.from(`r${seq}`), segmentMeta(seq));
  await first.close(); // the process stops with S3 still down
  await startS3();
  const second = await openStore(spoolDir);
  assert.equal(await second.flush(15_000), true);
  assert.deepEqual(await keys('p/recordings/r/'), [0, 1, 2, 3, 4].map((i) => `p/recordings/r/b/${i}.ts`));
  await second.close();
});

test('a full spool drops pending playlists first, then refuses a segment loudly', async () => {
  await stopS3();
  const store = await openStore(path.join(workDir, 'spool-4'), 1000);
  await store.put('recordings/f/b/0.ts', Buffer.alloc(600), segmentMeta(0));
  await store.put('live/f/index.m3u8', Buffer.alloc(300), playlistMeta);
  await store.put('recordings/f/b/1.ts', Buffer.alloc(350), segmentMeta(1)); // fits once the playlist is dropped
  assert.equal(store.spool.droppedPlaylists, 1);
  await assert.rejects(store.put('recordings/f/b/2.ts', Buffer.alloc(400), segmentMeta(2)), SpoolFullError);
  assert.equal(store.counters.refused, 1);
  await startS3();
  await store.close();
});

test('objects S3 refuses for good (missing bucket, vanished spool body) go to failed/ and block nothing', async () => {
  const missing = await openStore(path.join(workDir, 'spool-5'), undefined, 'no-such-bucket');
  await missing.put('recordings/m/b/0.ts', Buffer.from('m0'), segmentMeta(0));
  await missing.put('recordings/m/b/1.ts', Buffer.from('m1'), segmentMeta(1));
  assert.equal(await missing.flush(5000), true, 'the queue drains instead of retrying forever');
  assert.equal(missing.counters.failed, 2);
  assert.equal((await readdir(path.join(workDir, 'spool-5', 'failed'))).filter((n) => n.endsWith('.json')).length, 2, 'kept for an operator');
  await missing.close();

  const spoolDir = path.join(workDir, 'spool-6');
  await stopS3();
  const store = await openStore(spoolDir);
  for (let seq = 0; seq < 3; seq++) await store.put(`recordings/v/b/${seq}.ts`, Buffer.from(`v${seq}`), segmentMeta(seq));
  await rm(path.join(spoolDir, '000000000001.body')); // the head entry's body vanished
  await startS3();
  assert.equal(await store.flush(10_000), true);
  assert.deepEqual(await keys('p/recordings/v/'), ['p/recordings/v/b/1.ts', 'p/recordings/v/b/2.ts']);
  assert.equal(store.counters.failed, 1);
  await store.close();
});

test('failed/ is bounded like the spool: the first refusals stay for an operator, later ones are deleted and counted, also after a restart', async () => {
  const spoolDir = path.join(workDir, 'spool-failed-bound');
  // 10 KiB of spool; each refused 3 KiB segment costs 4 KiB of failed/ (body + its .json): two fit.
  const store = await openStore(spoolDir, 10 * 1024, 'no-such-bucket');
  for (let seq = 0; seq < 5; seq++) {
    await store.put(`recordings/f/b/${seq}.ts`, Buffer.alloc(3 * 1024, seq), segmentMeta(seq));
    assert.equal(await store.flush(5000), true);
  }
  assert.deepEqual({ failed: store.counters.failed, discarded: store.counters.failedDiscarded }, { failed: 5, discarded: 3 });
  const kept = async () => (await readdir(path.join(spoolDir, 'failed'))).filter((n) => n.endsWith('.json')).sort();
  assert.deepEqual(await kept(), ['000000000001.json', '000000000002.json'], 'the first two refusals, which show what went wrong');
  assert.equal((await readdir(spoolDir)).filter((n) => n !== 'failed').length, 0, 'nothing left behind in the queue');
  await store.close();

  await writeFile(path.join(spoolDir, 'failed', 'operator-notes.json'), 'not json'); // unreadable entries neither block the open nor go
  const reopened = await openStore(spoolDir, 10 * 1024, 'no-such-bucket');
  await reopened.put('recordings/f/b/5.ts', Buffer.alloc(3 * 1024), segmentMeta(5));
  assert.equal(await reopened.flush(5000), true);
  assert.equal(reopened.counters.failedDiscarded, 1, 'the bound counts what an earlier process kept');
  assert.equal((await kept()).length, 3, 'the two kept refusals and the unreadable file');
  await reopened.close();
});

test('a stalled S3 connection times out and is retried; close() returns at once and leaves the object in the spool', async (t) => {
  const sockets: net.Socket[] = [];
  const hanging = net.createServer((socket) => { sockets.push(socket); }); // accepts, never answers
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  t.after(() => { for (const s of sockets) s.destroy(); hanging.close(); });
  const spoolDir = path.join(workDir, 'spool-7');
  const store = await openStore(spoolDir, undefined, BUCKET, `http://127.0.0.1:${(hanging.address() as net.AddressInfo).port}`, 300);
  await store.put('recordings/h/b/0.ts', Buffer.from('h0'), segmentMeta(0));
  await waitFor(() => store.counters.retries >= 2, 5000, 'timed-out requests retried');
  const started = Date.now();
  await store.close();
  assert.ok(Date.now() - started < 1000, `close() took ${Date.now() - started} ms`);
  assert.deepEqual((await readdir(spoolDir)).filter((n) => n.endsWith('.json')), ['000000000001.json'], 'left for the next start');
});

test('concurrent puts from several streams never overrun the spool bound and queue in order', async () => {
  await stopS3();
  const store = await openStore(path.join(workDir, 'spool-8'), 1000);
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.put(`recordings/c${i}/b/0.ts`, Buffer.alloc(300), segmentMeta(0))));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
  assert.ok(store.spool.bytes <= 1000, `${store.spool.bytes} bytes spooled`);
  await startS3();
  assert.equal(await store.flush(10_000), true);
  assert.deepEqual(await keys('p/recordings/c'), [0, 1, 2].map((i) => `p/recordings/c${i}/b/0.ts`));
  await store.close();
});

test('get() reads the newest version: a put still in the spool, else the bucket, else null', async () => {
  await stopS3();
  const first = await openStore(path.join(workDir, 'spool-9'));
  await first.put('live/g/index.m3u8', Buffer.from('v1'), playlistMeta);
  await first.put('live/g/index.m3u8', Buffer.from('v2'), playlistMeta);
  assert.equal((await first.get('live/g/index.m3u8'))?.toString(), 'v2', 'from the spool while S3 is down');
  await startS3();
  assert.equal(await first.flush(10_000), true);
  await first.close();
  const second = await openStore(path.join(workDir, 'spool-10')); // another task: its own, empty spool
  assert.equal((await second.get('live/g/index.m3u8'))?.toString(), 'v2', 'from the bucket');
  assert.equal(await second.get('live/none/index.m3u8'), null);
  await second.close();
});

test('end to end: a broadcast recorded to S3 through an outage is complete and decodes', async (t) => {
  const dataDir = path.join(workDir, 'media');
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
  const server = await startTestServer({
    hlsEnabled: true, hlsSegmentSeconds: 1, hlsBucket: BUCKET, hlsPrefix: '', s3Endpoint: endpoint(), awsRegion: 'us-east-1', dataDir,
  });
  t.after(() => server.close());
  const publisher = startPublisher(server.rtmpUrl('field'), { seconds: 8, gopSeconds: 1 });
  await waitForKeyframe(server.hub, 'field', 15_000);
  await sleep(2500);
  await stopS3(); // S3 goes away for a few seconds in the middle of the broadcast
  await sleep(3000);
  await startS3();
  await publisher.exited;
  await waitFor(async () => (await keys('recordings/field/')).some((k) => k.endsWith('end.json')), 20_000, 'end.json in the bucket');

  const objects = await keys('recordings/field/');
  const local = path.join(workDir, 'download');
  for (const key of objects) {
    const file = path.join(local, key);
    await mkdir(path.dirname(file), { recursive: true });
    const res = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    await writeFile(file, Buffer.from(await res.Body!.transformToByteArray()));
  }
  const broadcastDir = path.dirname(path.join(local, objects.find((k) => k.endsWith('end.json'))!));
  const end = JSON.parse(await getText(objects.find((k) => k.endsWith('end.json'))!)) as { segments: number };
  // Numbers are given before storage, so a segment lost on the way leaves a gap here.
  const numbers = objects.filter((k) => k.endsWith('.ts')).map((k) => Number(path.basename(k, '.ts'))).sort((a, b) => a - b);
  assert.deepEqual(numbers, Array.from({ length: end.segments }, (_, i) => i), 'segments 0..n-1, no gaps');
  assert.ok(end.segments >= 6, `about 8 one-second segments, got ${end.segments}`);
  const recording = parseMediaPlaylist(await getText(objects.find((k) => k.endsWith('index.m3u8'))!));
  assert.deepEqual(recording.segments.map((s) => s.uri), numbers.map((n) => `${n}.ts`));
  assert.ok(recording.segments.every((s) => !s.discontinuity), 'no gap was marked');
  const total = recording.segments.reduce((sum, s) => sum + s.duration, 0);
  assert.ok(Math.abs(total - 8) < 0.5, `recording lasts ${total} s of 8 s sent`);
  const counter = async (name: string) => (await server.metrics.registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
  assert.equal(await counter('bridgecast_hls_segments_dropped_total'), 0);
  assert.equal(await counter('bridgecast_hls_write_errors_total'), 0);
  assert.equal(await counter('bridgecast_s3_objects_failed_total'), 0);
  assert.equal(await counter('bridgecast_hls_segments_cut_at_cap_total'), 0, 'every segment began at a keyframe');
  await runFfmpeg(['-v', 'error', '-i', path.join(broadcastDir, 'index.m3u8'), '-f', 'null', '-']);

  // The live playlist in the bucket ended with the broadcast...
  const ended = parseMediaPlaylist(await getText('live/field/index.m3u8'));
  assert.equal(ended.endlist, true);
  assert.equal(ended.targetDuration, 1, 'the 1 s GOP, not a 3 s cap');
  assert.ok(ended.segments.every((s) => s.programDateTime instanceof Date));
  // ...and comes back without EXT-X-ENDLIST when the stream goes live again, here on a new process that reads it from S3.
  await server.close();
  const next = await startTestServer({
    hlsEnabled: true, hlsSegmentSeconds: 1, hlsBucket: BUCKET, hlsPrefix: '', s3Endpoint: endpoint(), awsRegion: 'us-east-1', dataDir,
  });
  t.after(() => next.close());
  // Long enough that a loaded machine's uploads (where a newer playlist replaces a pending one) still show it live.
  const again = startPublisher(next.rtmpUrl('field'), { seconds: 8, gopSeconds: 1 });
  // (s3rver may answer a read that races its write with a partial body: such a read is retried.)
  const readLive = async () => parseMediaPlaylist(await getText('live/field/index.m3u8'));
  const live = await waitFor(async () => {
    const p = await readLive().catch(() => null);
    return p && !p.endlist ? p : null;
  }, 30_000, 'the live playlist without EXT-X-ENDLIST');
  // The ended broadcast's segments left the window as if they slid out; the new broadcast's segments
  // (0.ts, 1.ts, ... of its own recording) follow. On a loaded machine the first playlist seen here may
  // already have slid past 0.ts (a 6-segment window), and then its discontinuity is counted instead.
  const firstNew = Number(path.basename(live.segments[0]!.uri, '.ts'));
  assert.equal(live.mediaSequenceBase, (ended.mediaSequenceBase ?? 0) + ended.segments.length + firstNew, 'the media sequence continues');
  const endedDiscontinuities = (ended.discontinuitySequenceBase ?? 0) + ended.segments.filter((s) => s.discontinuity).length;
  if (firstNew === 0) assert.equal(live.segments[0]!.discontinuity, true, 'the new broadcast starts behind a discontinuity');
  assert.equal(live.discontinuitySequenceBase ?? 0, endedDiscontinuities + (firstNew === 0 ? 0 : 1), 'the discontinuity sequence continues');
  assert.ok(live.segments.every((s) => !s.uri.includes(path.basename(broadcastDir))), 'only the new broadcast');
  await again.exited;
  await waitFor(async () => (await readLive().catch(() => null))?.endlist, 30_000, 'EXT-X-ENDLIST again');
});
