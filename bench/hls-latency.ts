/**
 * HLS publish-to-playlist latency (not a test): ffmpeg publishes a live
 * H.264+AAC signal with a 2 s GOP over RTMP; the HLS writer segments it to a
 * LocalObjectStore in a temp dir. For every segment it reports
 *   - keyframe → playlist: from the keyframe that starts a segment reaching
 *     the hub to the live playlist listing that segment (what a player waits
 *     at best: one segment duration plus muxing and storage), and
 *   - cut → playlist: from the keyframe that ends the segment to the same
 *     playlist write (the writer's own overhead).
 *
 *   node --import tsx bench/hls-latency.ts            # 20 s
 *   HLS_BENCH_SECONDS=60 node --import tsx bench/hls-latency.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hlsKeys } from '@bridgecast/contracts';
import { attachHls } from '@bridgecast/media/hls/hls-writer.js';
import { silentLogger } from '@bridgecast/media/logger.js';
import { LocalObjectStore } from '@bridgecast/media/storage/local-object-store.js';
import { killAllChildren, startPublisher } from '../test/helpers/ffmpeg.js';
import { measureLatency, recordKeyframeTimes, RecordingObjectStore } from '../test/helpers/hls-capture.js';
import { startTestServer } from '../test/helpers/media-server.js';

const seconds = Number(process.env.HLS_BENCH_SECONDS ?? 20);
const STREAM = 'bench';

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${sorted.at(-1)} ms (n=${sorted.length})`;
}

const server = await startTestServer();
const dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-hls-bench-'));
try {
  const store = new RecordingObjectStore(new LocalObjectStore(dir));
  const hls = attachHls(server.hub, store, { segmentSeconds: 2, windowSegments: 6, logger: silentLogger });
  const keyframes = recordKeyframeTimes(server.hub, STREAM);
  const publisher = startPublisher(server.rtmpUrl(STREAM), { seconds, gopSeconds: 2, width: 640, height: 360 });
  await publisher.exited;
  await hls.close();
  const latency = measureLatency(store.puts, keyframes, hlsKeys.livePlaylist(STREAM));
  console.log(`HLS latency over ${seconds} s of 640x360 H.264+AAC, 2 s GOP, 2 s segments, local disk:`);
  console.log(`  keyframe → live playlist: ${summary(latency.publishToPlaylistMs)}`);
  console.log(`  cut → live playlist:      ${summary(latency.cutToPlaylistMs)}`);
  console.log(`  segments ${hls.stats().segmentsWritten}, bytes ${hls.stats().bytesWritten}, dropped ${hls.stats().segmentsDropped}`);
} finally {
  await killAllChildren();
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
