/**
 * Soak: one Bridgecast server process under churn for `--minutes` (60 for the
 * documented run): publishers that disconnect and reconnect, viewers that come
 * and go over RTMP and HTTP-FLV. It prints the server's RSS and CPU over time,
 * and at the end checks that
 *   - memory stayed flat (last quarter's median RSS vs the second quarter's),
 *   - no session is stuck: with every client gone, /api/live is empty and
 *     the publisher and viewer gauges in /metrics are back to 0,
 *   - no recording segment was lost (every broadcast's end.json segment
 *     count matches its .ts files and its playlist), with HLS on local disk
 *     (--hls) or in an S3-compatible server (--s3: s3rver, started here and
 *     taken down now and then for 15-60 s, so uploads wait in the spool and
 *     must all arrive once it is back).
 *
 *   npm run bench:soak -- [--minutes 60] [--publishers 3] [--viewers 30] [--hls | --s3 [--outage-minutes 4]]
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { PacedPublisher } from './lib/paced-publisher.js';
import { processTreeUsage } from './lib/proc-stats.js';
import { loadSampleTags } from './lib/sample-media.js';
import { startServer } from './lib/servers.js';
import { fmt, percentile, sleep } from './lib/stats.js';
import { startViewer, type Viewer } from './lib/viewers.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    publishers: { type: 'string', default: '3' },
    viewers: { type: 'string', default: '30' },
    'sample-seconds': { type: 'string', default: '10' },
    hls: { type: 'boolean', default: false },
    s3: { type: 'boolean', default: false },
    'outage-minutes': { type: 'string', default: '4' },
  },
});

const DURATION_MS = Number(args.minutes) * 60_000;
const PUBLISHERS = Number(args.publishers);
const streamName = (i: number): string => `soak${i}`;
const VIEWERS = Number(args.viewers);
const SAMPLE_MS = Number(args['sample-seconds']) * 1000;

function randomBetween(minMs: number, maxMs: number): number {
  return minMs + Math.random() * (maxMs - minMs);
}

/** Recording objects, by key relative to `recordings/`: read from a directory or a bucket. */
interface RecordingObjects {
  keys: string[];
  read(key: string): Promise<string>;
}

function localRecordings(dir: string): RecordingObjects {
  const keys: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const key = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(key);
      else keys.push(key);
    }
  };
  if (existsSync(dir)) walk('');
  return { keys, read: async (key) => readFileSync(path.join(dir, key), 'utf8') };
}

/** Keys (or, with a delimiter, common prefixes) under `prefix`, following continuation tokens. */
async function listAll(client: S3Client, bucket: string, prefix: string, delimiter?: string): Promise<string[]> {
  const found: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token }));
    if (delimiter) for (const p of page.CommonPrefixes ?? []) found.push(p.Prefix!);
    else for (const o of page.Contents ?? []) found.push(o.Key!);
    token = page.NextContinuationToken;
  } while (token);
  return found;
}

/**
 * Walks recordings/<stream>/<broadcast>/ one broadcast at a time, for the
 * streams the soak published: s3rver answers any listing that would be
 * truncated (over 1000 keys) with a 500, and an hour's soak stores many
 * thousands of segments. (It also lists no common prefixes directly under
 * recordings/, hence the known stream names.)
 */
async function bucketRecordings(client: S3Client, bucket: string, streams: string[]): Promise<RecordingObjects> {
  const keys: string[] = [];
  for (const stream of streams) {
    for (const broadcast of await listAll(client, bucket, `recordings/${stream}/`, '/')) {
      for (const key of await listAll(client, bucket, broadcast)) keys.push(key.slice('recordings/'.length));
    }
  }
  const read = async (key: string): Promise<string> =>
    (await client.send(new GetObjectCommand({ Bucket: bucket, Key: `recordings/${key}` }))).Body!.transformToString();
  return { keys, read };
}

/** Broadcasts whose recording lost segments: end.json count vs .ts objects vs playlist entries. */
export async function lostRecordingSegments(objects: RecordingObjects): Promise<string[]> {
  const broadcasts = new Map<string, string[]>();
  for (const key of objects.keys) {
    const at = key.lastIndexOf('/');
    broadcasts.set(key.slice(0, at), [...(broadcasts.get(key.slice(0, at)) ?? []), key.slice(at + 1)]);
  }
  const problems: string[] = [];
  for (const [broadcast, files] of broadcasts) {
    if (!files.includes('end.json')) {
      problems.push(`${broadcast}: no end.json (broadcast never closed)`);
      continue;
    }
    const { segments } = JSON.parse(await objects.read(`${broadcast}/end.json`)) as { segments: number };
    const ts = files.filter((f) => f.endsWith('.ts')).length;
    const playlist = files.includes('index.m3u8') ? await objects.read(`${broadcast}/index.m3u8`) : '';
    const listed = playlist.split('\n').filter((l) => l.trim().endsWith('.ts')).length;
    if (ts !== segments || listed !== segments) problems.push(`${broadcast}: end.json says ${segments}, ${ts} .ts files, ${listed} in the playlist`);
  }
  return problems;
}

const S3_BUCKET = 'soak';
const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** An S3-compatible server that the soak takes down and brings back on the same port and data. */
class FlakyS3 {
  private server: S3rver | null = null;
  port = 0;
  outages = 0;
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'soak-s3-'));

  async up(): Promise<void> {
    if (this.server) return;
    this.server = new S3rver({ port: this.port, address: '127.0.0.1', directory: this.dir, silent: true, configureBuckets: [{ name: S3_BUCKET, configs: [] }] });
    this.port = (await this.server.run()).port;
  }

  async down(): Promise<void> {
    await this.server?.close();
    this.server = null;
  }

  /** Until `deadline`: every ~outageMs, down for 15-60 s. */
  async flap(deadline: number, outageMs: number): Promise<void> {
    while (Date.now() + outageMs < deadline) {
      await sleep(randomBetween(outageMs / 2, outageMs * 1.5));
      if (Date.now() >= deadline) break;
      await this.down();
      this.outages++;
      console.log(`S3 down (outage ${this.outages})`);
      await sleep(Math.min(randomBetween(15_000, 60_000), Math.max(0, deadline - Date.now())));
      await this.up();
      console.log('S3 back');
    }
  }

  client(): S3Client {
    return new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${this.port}`, forcePathStyle: true, credentials: S3_CREDENTIALS });
  }
}

function gauge(metrics: string, name: string): number {
  return metrics.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

async function main(): Promise<number> {
  const tags = loadSampleTags();
  const s3 = args.s3 ? new FlakyS3() : null;
  await s3?.up();
  const env: Record<string, string> = s3
    ? {
      HLS: 'true', HLS_BUCKET: S3_BUCKET, S3_ENDPOINT: `http://127.0.0.1:${s3.port}`, AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    }
    : args.hls ? { HLS: 'true' } : {};
  const server = await startServer('bridgecast', { env });
  const base = `http://${server.host}:${server.httpPort}`;
  const deadline = Date.now() + DURATION_MS;
  let publishCycles = 0;
  let viewerCycles = 0;
  let clientErrors = 0;
  const live = new Set<Viewer>();

  // Each publisher: live for 20–90 s, gone for 1–5 s, again.
  const publisherLoops = Array.from({ length: PUBLISHERS }, async (_, i) => {
    while (Date.now() < deadline) {
      try {
        const publisher = await PacedPublisher.start({ host: server.host, port: server.rtmpPort, app: 'live', name: streamName(i) }, tags);
        publishCycles++;
        await sleep(Math.min(randomBetween(20_000, 90_000), Math.max(0, deadline - Date.now())));
        publisher.stop();
      } catch {
        clientErrors++;
      }
      await sleep(randomBetween(1000, 5000));
    }
  });
  // Each viewer: a random stream over RTMP or HTTP-FLV for 3–30 s, then another.
  const viewerLoops = Array.from({ length: VIEWERS }, async (_, i) => {
    await sleep(randomBetween(0, 5000));
    while (Date.now() < deadline) {
      try {
        const viewer = await startViewer(i % 2 ? 'rtmp' : 'flv', {
          host: server.host, rtmpPort: server.rtmpPort, httpPort: server.httpPort, app: 'live', name: streamName(Math.floor(Math.random() * PUBLISHERS)),
        });
        live.add(viewer);
        viewerCycles++;
        await sleep(Math.min(randomBetween(3000, 30_000), Math.max(0, deadline - Date.now())));
        viewer.close();
        live.delete(viewer);
      } catch {
        clientErrors++; // the stream was between broadcasts: expected now and then
        await sleep(1000);
      }
    }
  });

  const outages = s3?.flap(deadline, Number(args['outage-minutes']) * 60_000);

  const rss: number[] = [];
  const started = Date.now();
  let lastCpu = processTreeUsage(server.pid).cpuSeconds;
  console.log('minute  RSS MiB  CPU %  live streams  viewers(ours)  publish cycles  viewer cycles');
  while (Date.now() < deadline) {
    await sleep(Math.min(SAMPLE_MS, Math.max(0, deadline - Date.now())));
    let usage: ReturnType<typeof processTreeUsage>;
    try {
      usage = processTreeUsage(server.pid);
    } catch (err) {
      console.log(`FAIL the server died: ${(err as Error).message}\n${server.logTail()}`);
      return 1;
    }
    const streams = ((await (await fetch(`${base}/api/live`)).json()) as { streams: unknown[] }).streams.length;
    rss.push(usage.rssBytes / 2 ** 20);
    console.log(`${fmt((Date.now() - started) / 60_000, 1).padStart(6)}  ${fmt(rss.at(-1)!, 1).padStart(7)}  ${fmt(((usage.cpuSeconds - lastCpu) * 100_000) / SAMPLE_MS, 1).padStart(5)}  ${String(streams).padStart(12)}  ${String(live.size).padStart(13)}  ${String(publishCycles).padStart(14)}  ${String(viewerCycles).padStart(13)}`);
    lastCpu = usage.cpuSeconds;
  }
  await Promise.all([...publisherLoops, ...viewerLoops, outages]);
  await sleep(5000); // idle timeouts and close handshakes settle
  if (s3) {
    await s3.up();
    const spoolDeadline = Date.now() + 180_000;
    while (gauge(await (await fetch(`${base}/metrics`)).text(), 'bridgecast_s3_spool_bytes') > 0 && Date.now() < spoolDeadline) await sleep(2000);
  }

  const failures: string[] = [];
  const streamsLeft = ((await (await fetch(`${base}/api/live`)).json()) as { streams: unknown[] }).streams.length;
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const publishersLeft = gauge(metrics, 'bridgecast_publishers');
  const viewersLeft = gauge(metrics, 'bridgecast_viewers');
  if (streamsLeft || publishersLeft || viewersLeft) failures.push(`stuck sessions: ${streamsLeft} streams, ${publishersLeft} publishers, ${viewersLeft} viewers after every client left`);
  const q = Math.max(1, Math.floor(rss.length / 4));
  const early = percentile(rss.slice(q, 2 * q), 50);
  const late = percentile(rss.slice(-q), 50);
  console.log(`RSS median: ${fmt(early, 1)} MiB (second quarter) -> ${fmt(late, 1)} MiB (last quarter); ${publishCycles} publish cycles, ${viewerCycles} viewer sessions, ${clientErrors} client connect failures`);
  if (late > early * 1.2 + 10) failures.push(`memory grew from ${fmt(early, 1)} to ${fmt(late, 1)} MiB`);
  if (s3 || args.hls) {
    const client = s3?.client();
    const streams = Array.from({ length: PUBLISHERS }, (_, i) => streamName(i));
    const objects = client ? await bucketRecordings(client, S3_BUCKET, streams) : localRecordings(path.join(server.dataDir, 'hls', 'recordings'));
    const lost = await lostRecordingSegments(objects);
    client?.destroy();
    failures.push(...lost);
    const broadcasts = new Set(objects.keys.map((k) => k.slice(0, k.lastIndexOf('/')))).size;
    if (broadcasts === 0 && publishCycles > 0) failures.push(`no recording found after ${publishCycles} publish cycles`);
    const where = s3 ? `in S3 across ${s3.outages} outages` : 'on disk';
    console.log(lost.length ? `recordings ${where}: ${lost.length} of ${broadcasts} broadcasts lost segments` : `recordings ${where}: all ${broadcasts} broadcasts complete`);
  } else {
    console.log('recordings: not checked (run with --hls or --s3)');
  }
  await server.stop();
  if (s3) {
    await s3.down();
    rmSync(s3.dir, { recursive: true, force: true });
  }
  for (const f of failures) console.log(`FAIL ${f}`);
  console.log(failures.length ? 'soak FAILED' : 'soak passed');
  return failures.length ? 1 : 0;
}

process.exit(await main());
