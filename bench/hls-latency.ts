/**
 * Latency benchmark (not a test), in two parts.
 *
 * 1. Keyframe → live playlist: ffmpeg publishes over RTMP, the HLS writer
 *    segments to a LocalObjectStore; for every segment, the time from the
 *    keyframe that starts it reaching the hub to the live playlist listing it
 *    (at best one segment duration plus muxing and storage), and from the
 *    keyframe that ends it to the same write (the writer's own overhead).
 *
 * 2. Publish → picture in Chromium: ffmpeg publishes a test pattern with the
 *    wall clock burned in (bench/lib/clock-stamp.ts: drawtext for people,
 *    24 bits of milliseconds as blocks for the page), x264 ultrafast, no
 *    B-frames, GOP = segment length; the service runs with its defaults
 *    (HLS_WINDOW 6) and the segment length given. The watch page plays it
 *    with hls.js and with mpegts.js (HTTP-FLV) in headless Chromium, and
 *    every 250 ms the frame on screen is drawn to a canvas and its stamp
 *    read back: now − stamp is how far behind real time the picture is.
 *    Everything counts: encoder, RTMP, segmenting, playlist polling, player
 *    buffer, decode. The first `--warmup` seconds after playback starts are
 *    left out (hls.js catches up to its live position there).
 *
 *   npm run bench:hls                                        # 2 s segments (the default), 30 s per player
 *   npm run bench:hls -- --segment-seconds 2,1 --seconds 60 --write-doc
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { attachHls, hlsKeys } from '../services/media/src/hls/hls-writer.js';
import { silentLogger } from '../services/media/src/logger.js';
import { LocalObjectStore } from '../services/media/src/storage/local-object-store.js';
import { killAllChildren, startPublisher } from '../test/helpers/ffmpeg.js';
import { measureLatency, recordKeyframeTimes, RecordingObjectStore } from '../test/helpers/hls-capture.js';
import { startTestServer, waitFor, waitForKeyframe } from '../test/helpers/media-server.js';
import { clockStampFilter, READ_STAMP_IN_PAGE } from './lib/clock-stamp.js';
import { machineLine, writeDocSection } from './lib/report.js';
import { markdownTable, percentile, sleep } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    'segment-seconds': { type: 'string', default: '2' },
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '10' },
    'playlist-seconds': { type: 'string', default: '20' },
    players: { type: 'string', default: 'hls,flv' },
    'write-doc': { type: 'boolean', default: false },
  },
});
const PLAYERS = args.players.split(',') as Array<'hls' | 'flv'>;
const SEGMENT_SECONDS = args['segment-seconds'].split(',').map(Number);
const SECONDS = Number(args.seconds);
const WARMUP_SECONDS = Number(args.warmup);
const CHROMIUM = '/usr/bin/chromium';

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${sorted.at(-1)} ms (n=${sorted.length})`;
}

/** Part 1: keyframe → live playlist, in process. */
async function keyframeToPlaylist(segmentSeconds: number, seconds: number): Promise<string> {
  const server = await startTestServer();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-hls-bench-'));
  try {
    const store = new RecordingObjectStore(new LocalObjectStore(dir));
    const hls = attachHls(server.hub, store, { segmentSeconds, windowSegments: 6, logger: silentLogger });
    const keyframes = recordKeyframeTimes(server.hub, 'bench');
    const publisher = startPublisher(server.rtmpUrl('bench'), { seconds, gopSeconds: segmentSeconds, width: 640, height: 360 });
    await publisher.exited;
    await hls.close();
    const latency = measureLatency(store.puts, keyframes, hlsKeys.livePlaylist('bench'));
    return [
      `keyframe → live playlist (${segmentSeconds} s segments, ${seconds} s of 640x360 H.264+AAC, local disk): ${summary(latency.publishToPlaylistMs)}`,
      `cut → live playlist (the writer's own time):                      ${summary(latency.cutToPlaylistMs)}`,
    ].join('\n');
  } finally {
    await killAllChildren();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

interface PictureLatency {
  player: 'hls' | 'flv';
  segmentSeconds: number;
  samples: number[];
  unreadable: number;
  /** What the page itself showed (hls.js: from EXT-X-PROGRAM-DATE-TIME), at the end. */
  pageShows: string;
}

/** Part 2: publish → picture in Chromium, for both players. */
async function publishToPicture(segmentSeconds: number): Promise<PictureLatency[]> {
  const server = await startTestServer({ hlsEnabled: true, hlsSegmentSeconds: segmentSeconds, hlsWindow: 6 });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'],
  });
  const results: PictureLatency[] = [];
  try {
    const publisher = startPublisher(server.rtmpUrl('clock'), {
      seconds: 3600, width: 640, height: 360, gopSeconds: segmentSeconds, bframes: 0, videoFilter: clockStampFilter(),
    });
    await waitForKeyframe(server.hub, 'clock', 15_000);
    for (const player of PLAYERS) {
      const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
      await page.goto(`${server.httpBase}/watch/clock?player=${player}`);
      await waitFor(async () => (await page.evaluate(READ_STAMP_IN_PAGE)) !== null, 60_000, `${player} to show a stamped picture`);
      await sleep(WARMUP_SECONDS * 1000);
      const samples: number[] = [];
      let unreadable = 0;
      const end = Date.now() + SECONDS * 1000;
      while (Date.now() < end) {
        const read = await page.evaluate(READ_STAMP_IN_PAGE) as { latencyMs: number } | null;
        if (read && read.latencyMs < 60_000) samples.push(read.latencyMs);
        else unreadable++;
        await sleep(250);
      }
      results.push({ player, segmentSeconds, samples, unreadable, pageShows: (await page.textContent('#latency')) ?? '' });
      console.error(`${player}, ${segmentSeconds} s segments: ${summary(samples)}; unreadable ${unreadable}; the page shows "${results.at(-1)!.pageShows}"`);
      await page.close();
    }
    if (publisher.child.exitCode !== null) throw new Error(`the publisher exited early: ${publisher.stderr()}`);
  } finally {
    await browser.close();
    await killAllChildren();
    await server.close();
  }
  return results;
}

const playlistLines: string[] = [];
if (Number(args['playlist-seconds']) > 0) for (const s of SEGMENT_SECONDS) playlistLines.push(await keyframeToPlaylist(s, Number(args['playlist-seconds'])));
console.error(playlistLines.join('\n'));
const pictures: PictureLatency[] = [];
for (const s of SEGMENT_SECONDS) pictures.push(...await publishToPicture(s));

const target = (r: PictureLatency) => (r.player === 'hls' ? 3 * r.segmentSeconds + 1 : 1.5) * 1000;
const rows = pictures.map((r) => {
  const p50 = percentile(r.samples, 50);
  return [
    r.player === 'hls' ? 'HLS, hls.js' : 'HTTP-FLV, mpegts.js', `${r.segmentSeconds} s`,
    `${(p50 / 1000).toFixed(2)} / ${(percentile(r.samples, 95) / 1000).toFixed(2)} / ${(Math.max(...r.samples) / 1000).toFixed(2)}`,
    `${(target(r) / 1000).toFixed(1)} s: ${p50 <= target(r) ? 'met' : 'missed'}`,
    `${r.samples.length} (${r.unreadable} unreadable)`, r.pageShows,
  ];
});
const command = `npm run bench:hls -- ${process.argv.slice(2).join(' ')}`.trim();
const section = [
  '## HLS and HTTP-FLV latency: publish → picture in Chromium',
  '',
  `ffmpeg publishes 640x360 30 fps H.264 (x264 ultrafast, no B-frames, GOP = segment length) + AAC over RTMP with the wall clock burned into the picture (24 bits of milliseconds as blocks, plus the time as text); the service runs with HLS_WINDOW 6 and the segment length shown; the watch page plays it in headless Chromium, and every 250 ms the frame on screen is drawn to a canvas and its clock read back. Latency = now − clock in the picture: encoder, RTMP, segmenting, playlist polling, player buffer and decoding all count. ${SECONDS} s of samples per player after ${WARMUP_SECONDS} s of warm-up. Targets: hls.js within 3 segment durations + 1 s, HTTP-FLV under 1.5 s (median).`,
  '',
  `Machine: ${machineLine()}. Command: \`${command}\``,
  '',
  markdownTable(['player', 'segments', 'behind real time p50 / p95 / max (s)', 'target (p50)', 'samples', 'the page showed at the end'], rows),
  '',
  'Keyframe → live playlist (the server side alone):',
  '',
  '```',
  ...playlistLines,
  '```',
].join('\n');
console.log(`\n${section}\n`);
if (args['write-doc']) writeDocSection('hls-latency', section);
else console.error('(not written to docs/benchmarks.md; add --write-doc to replace the committed numbers)');
process.exit(0);
