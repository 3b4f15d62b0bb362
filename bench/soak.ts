/**
 * Soak: one Bridgecast server process under churn for `--minutes` (60 for the
 * documented run): publishers that disconnect and reconnect, viewers that come
 * and go over RTMP and HTTP-FLV. It prints the server's RSS and CPU over time,
 * and at the end checks that
 *   - memory stayed flat (last quarter's median RSS vs the second quarter's),
 *   - no session is stuck: with every client gone, /api/live is empty and
 *     the publisher and viewer gauges in /metrics are back to 0,
 *   - no recording segment was lost, when the server writes HLS to DATA_DIR
 *     (every broadcast's end.json segment count matches its .ts files and
 *     its playlist).
 *
 *   npm run bench:soak -- [--minutes 60] [--publishers 3] [--viewers 30] [--hls]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
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
  },
});

const DURATION_MS = Number(args.minutes) * 60_000;
const PUBLISHERS = Number(args.publishers);
const VIEWERS = Number(args.viewers);
const SAMPLE_MS = Number(args['sample-seconds']) * 1000;

function randomBetween(minMs: number, maxMs: number): number {
  return minMs + Math.random() * (maxMs - minMs);
}

/** Broadcasts whose recording lost segments: end.json count vs .ts files vs playlist entries. */
export function lostRecordingSegments(recordingsDir: string): string[] {
  const problems: string[] = [];
  if (!existsSync(recordingsDir)) return problems;
  for (const stream of readdirSync(recordingsDir)) {
    for (const broadcast of readdirSync(path.join(recordingsDir, stream))) {
      const dir = path.join(recordingsDir, stream, broadcast);
      const files = readdirSync(dir);
      if (!files.includes('end.json')) {
        problems.push(`${stream}/${broadcast}: no end.json (broadcast never closed)`);
        continue;
      }
      const { segments } = JSON.parse(readFileSync(path.join(dir, 'end.json'), 'utf8')) as { segments: number };
      const ts = files.filter((f) => f.endsWith('.ts')).length;
      const listed = readFileSync(path.join(dir, 'index.m3u8'), 'utf8').split('\n').filter((l) => l.trim().endsWith('.ts')).length;
      if (ts !== segments || listed !== segments) problems.push(`${stream}/${broadcast}: end.json says ${segments}, ${ts} .ts files, ${listed} in the playlist`);
    }
  }
  return problems;
}

function gauge(metrics: string, name: string): number {
  return metrics.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

async function main(): Promise<number> {
  const tags = loadSampleTags();
  const server = await startServer('bridgecast', { env: args.hls ? { HLS: 'true' } : {} });
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
        const publisher = await PacedPublisher.start({ host: server.host, port: server.rtmpPort, app: 'live', name: `soak${i}` }, tags);
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
          host: server.host, rtmpPort: server.rtmpPort, httpPort: server.httpPort, app: 'live', name: `soak${Math.floor(Math.random() * PUBLISHERS)}`,
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

  const rss: number[] = [];
  const started = Date.now();
  let lastCpu = processTreeUsage(server.pid).cpuSeconds;
  console.log('minute  RSS MiB  CPU %  live streams  viewers(ours)  publish cycles  viewer cycles');
  while (Date.now() < deadline) {
    await sleep(Math.min(SAMPLE_MS, Math.max(0, deadline - Date.now())));
    const usage = processTreeUsage(server.pid);
    const streams = ((await (await fetch(`${base}/api/live`)).json()) as { streams: unknown[] }).streams.length;
    rss.push(usage.rssBytes / 2 ** 20);
    console.log(`${fmt((Date.now() - started) / 60_000, 1).padStart(6)}  ${fmt(rss.at(-1)!, 1).padStart(7)}  ${fmt(((usage.cpuSeconds - lastCpu) * 100_000) / SAMPLE_MS, 1).padStart(5)}  ${String(streams).padStart(12)}  ${String(live.size).padStart(13)}  ${String(publishCycles).padStart(14)}  ${String(viewerCycles).padStart(13)}`);
    lastCpu = usage.cpuSeconds;
  }
  await Promise.all([...publisherLoops, ...viewerLoops]);
  await sleep(5000); // idle timeouts and close handshakes settle

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
  if (args.hls) {
    const lost = lostRecordingSegments(path.join(server.dataDir, 'hls', 'recordings'));
    failures.push(...lost);
    console.log(lost.length ? `recordings: ${lost.length} broadcasts lost segments` : 'recordings: every broadcast complete');
  } else {
    console.log('recordings: not checked (run with --hls once the server writes HLS)');
  }
  await server.stop();
  for (const f of failures) console.log(`FAIL ${f}`);
  console.log(failures.length ? 'soak FAILED' : 'soak passed');
  return failures.length ? 1 : 0;
}

process.exit(await main());
