/**
 * HLS end to end: real ffmpeg publishes over RTMP, the HLS writer segments
 * into a LocalObjectStore, and real ffprobe/ffmpeg check what was written.
 * Four broadcasts run at once on one server: audio+video, audio only, video
 * only, and a publisher that reconnects (discontinuity in the live playlist).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attachHls, hlsKeys, type HlsAttachment } from '../../services/media/src/hls/hls-writer.js';
import { silentLogger } from '../../services/media/src/logger.js';
import { LocalObjectStore } from '../../services/media/src/storage/local-object-store.js';
import { killAllChildren, packetsOf, probeMedia, spawnTracked, startPublisher, type ChildRun } from '../helpers/ffmpeg.js';
import { measureLatency, recordKeyframeTimes, RecordingObjectStore } from '../helpers/hls-capture.js';
import { parseMediaPlaylist } from '../helpers/hls-playlist.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/media-server.js';

const SEGMENT_SECONDS = 2;
const WINDOW = 4;
const FPS = 30;
const AAC_FRAME_SECONDS = 1024 / 44100;

let server: TestServer;
let dir: string;
let store: RecordingObjectStore;
let hls: HlsAttachment;
let keyframeTimes: number[];

function publishAudioOnly(url: string, seconds: number): ChildRun {
  return spawnTracked('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re',
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
    '-c:a', 'aac', '-b:a', '64k', '-ac', '1', '-f', 'flv', url]);
}

async function published(run: ChildRun): Promise<void> {
  const { code } = await run.exited;
  assert.equal(code, 0, `publisher failed: ${run.stderr()}`);
}

async function broadcastIds(streamId: string): Promise<string[]> {
  const d = path.join(dir, 'recordings', streamId);
  return existsSync(d) ? (await readdir(d)).sort() : [];
}

/** Waits until `count` broadcasts of `streamId` have their end.json. */
async function waitForEnded(streamId: string, count: number): Promise<string[]> {
  return waitFor(async () => {
    const ids = await broadcastIds(streamId);
    return ids.length === count && ids.every((id) => existsSync(path.join(dir, hlsKeys.endMarker(streamId, id)))) ? ids : null;
  }, 20_000, `${count} ended broadcast(s) of ${streamId}`);
}

before(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-hls-'));
  store = new RecordingObjectStore(new LocalObjectStore(dir));
  hls = attachHls(server.hub, store, { segmentSeconds: SEGMENT_SECONDS, windowSegments: WINDOW, logger: silentLogger });
  keyframeTimes = recordKeyframeTimes(server.hub, 'av');
  const reconnecting = (async () => {
    await published(startPublisher(server.rtmpUrl('again'), { seconds: 4, audio: false }));
    await waitForEnded('again', 1);
    await published(startPublisher(server.rtmpUrl('again'), { seconds: 4, audio: false }));
  })();
  await Promise.all([
    published(startPublisher(server.rtmpUrl('av'), { seconds: 7 })),
    published(publishAudioOnly(server.rtmpUrl('audio'), 6)),
    published(startPublisher(server.rtmpUrl('video'), { seconds: 6, audio: false })),
    reconnecting,
  ]);
});

after(async () => {
  await killAllChildren();
  await hls?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Expect { video: boolean; audio: boolean; seconds: number }

/** Everything that must hold for one finished broadcast's recording. */
async function checkRecording(streamId: string, broadcastId: string, expect: Expect): Promise<void> {
  const recordingDir = path.join(dir, hlsKeys.recordingDir(streamId, broadcastId));
  const playlistPath = path.join(recordingDir, 'index.m3u8');
  const playlist = parseMediaPlaylist(await readFile(playlistPath, 'utf8'));
  assert.equal(playlist.endlist, true);
  assert.equal(playlist.playlistType, 'EVENT');
  assert.ok(playlist.segments.length >= Math.floor(expect.seconds / SEGMENT_SECONDS), `${playlist.segments.length} segments`);
  const durations = playlist.segments.map((s) => s.duration);
  durations.forEach((d, i) => {
    assert.ok(Math.round(d) <= playlist.targetDuration, `segment ${i} ${d}s exceeds the target duration`);
    if (i < durations.length - 1) assert.ok(d >= SEGMENT_SECONDS - 0.05 && d <= SEGMENT_SECONDS + 0.1, `segment ${i} lasts ${d}s`);
  });
  const total = durations.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - expect.seconds) < 0.25, `recording lasts ${total}s, published ${expect.seconds}s`);

  // Each segment on its own: codecs, keyframe first, duration as announced; timestamps continuous across segments.
  const all = { video: [] as number[], audio: [] as number[] };
  for (const [i, segment] of playlist.segments.entries()) {
    const probe = await probeMedia(path.join(recordingDir, segment.uri));
    assert.deepEqual(probe.streams.map((s) => s.codec_name).sort(), [...(expect.audio ? ['aac'] : []), ...(expect.video ? ['h264'] : [])]);
    const video = packetsOf(probe, 'video');
    const audio = packetsOf(probe, 'audio');
    if (expect.video) assert.equal(video[0]!.flags[0], 'K', `segment ${i} starts with a keyframe`);
    const clock = expect.video ? video : audio;
    const step = expect.video ? 1 / FPS : AAC_FRAME_SECONDS;
    const extent = (clock.at(-1)!.dts! - clock[0]!.dts!) / 90_000 + step;
    assert.ok(Math.abs(extent - segment.duration) < 0.05, `segment ${i}: EXTINF ${segment.duration}s, media ${extent}s`);
    all.video.push(...video.map((p) => p.dts!));
    all.audio.push(...audio.map((p) => p.dts!));
  }
  for (const [kind, dts] of Object.entries(all)) {
    const nominal = (kind === 'video' ? 1 / FPS : AAC_FRAME_SECONDS) * 90_000;
    for (let i = 1; i < dts.length; i++) {
      const gap = dts[i]! - dts[i - 1]!;
      assert.ok(gap > 0 && gap < nominal * 1.5, `${kind} dts jumps by ${gap} at packet ${i}`);
    }
  }
  // Nothing lost: every frame the publisher encoded is in the recording.
  if (expect.video) assert.equal(all.video.length, expect.seconds * FPS);
  if (expect.audio) assert.ok(Math.abs(all.audio.length * AAC_FRAME_SECONDS - expect.seconds) < 0.1, `${all.audio.length} AAC frames`);

  // The whole recording decodes without a single error.
  const decode = spawnTracked('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-i', playlistPath, '-f', 'null', '-']);
  const { code } = await decode.exited;
  assert.equal(code, 0);
  assert.equal(decode.stderr(), '', 'ffmpeg decode errors');

  // Storage order and headers: segments before the playlists naming them, end.json last.
  const prefix = `${hlsKeys.recordingDir(streamId, broadcastId)}/`;
  const puts = store.puts.filter((p) => p.key.startsWith(prefix));
  assert.equal(puts.at(-1)!.key, hlsKeys.endMarker(streamId, broadcastId));
  const end = JSON.parse(puts.at(-1)!.body.toString('utf8')) as Record<string, unknown>;
  assert.deepEqual({ ...end, endedAt: typeof end.endedAt }, { streamId, broadcastId, segments: playlist.segments.length, endedAt: 'string' });
  for (const [seq, segment] of playlist.segments.entries()) {
    const key = `${prefix}${seq}.ts`;
    assert.equal(segment.uri, `${seq}.ts`);
    const put = store.puts.findIndex((p) => p.key === key);
    assert.deepEqual(store.puts[put]!.meta, {
      contentType: 'video/mp2t', cacheControl: 'public, max-age=31536000, immutable',
      metadata: { duration: segment.duration.toFixed(3), sequence: String(seq) },
    });
    const firstMention = store.puts.findIndex((p) =>
      (p.key === hlsKeys.recordingPlaylist(streamId, broadcastId) && p.body.includes(`\n${seq}.ts\n`)) ||
      (p.key === hlsKeys.livePlaylist(streamId) && p.body.includes(`/${broadcastId}/${seq}.ts\n`)));
    assert.ok(put < firstMention, `segment ${seq} stored before a playlist names it`);
  }
}

/**
 * The live playlist of `streamId` once its broadcast ended: EXT-X-ENDLIST,
 * the target duration of the real 2 s GOP, a wall-clock time on every
 * segment, short cache, every URI resolving to a stored segment; while it
 * was live, no EXT-X-ENDLIST.
 */
async function checkLivePlaylist(streamId: string) {
  const key = hlsKeys.livePlaylist(streamId);
  const playlist = parseMediaPlaylist(await readFile(path.join(dir, key), 'utf8'));
  assert.equal(playlist.endlist, true, 'the ended broadcast ended the live playlist');
  const versions = store.puts.filter((p) => p.key === key).map((p) => parseMediaPlaylist(p.body.toString('utf8')));
  assert.equal(versions.filter((p) => p.endlist).length, (await broadcastIds(streamId)).length, 'EXT-X-ENDLIST only at the end of each broadcast');
  assert.ok(versions.every((p) => p.targetDuration === SEGMENT_SECONDS), 'EXT-X-TARGETDURATION is the 2 s GOP, not a cap');
  assert.equal(playlist.targetDuration, SEGMENT_SECONDS);
  assert.ok(playlist.segments.length <= WINDOW);
  const dates = playlist.segments.map((s) => s.programDateTime?.getTime() ?? NaN);
  assert.ok(dates.every((d) => Math.abs(Date.now() - d) < 60_000), `EXT-X-PROGRAM-DATE-TIME on every segment: ${dates}`);
  for (let i = 1; i < dates.length; i++) {
    assert.ok(Math.abs(dates[i]! - dates[i - 1]! - playlist.segments[i - 1]!.duration * 1000) < 2, 'dates follow the media timeline');
  }
  for (const s of playlist.segments) {
    assert.match(s.uri, new RegExp(`^\\.\\./\\.\\./recordings/${streamId}/[0-9TZ]+-[0-9a-f]{4}/\\d+\\.ts$`));
    assert.ok(existsSync(path.join(dir, path.posix.dirname(key), s.uri)), `${s.uri} exists`);
  }
  assert.ok(store.puts.filter((p) => p.key === key).every((p) => p.meta.cacheControl === 'public, max-age=1' && p.meta.contentType === 'application/vnd.apple.mpegurl'));
  return playlist;
}

describe('HLS from a real RTMP publisher', () => {
  it('records audio + video: codecs, durations, continuous timestamps, complete and decodable', async () => {
    const [id] = await waitForEnded('av', 1);
    await checkRecording('av', id!, { video: true, audio: true, seconds: 7 });
    const live = await checkLivePlaylist('av');
    const recorded = parseMediaPlaylist(await readFile(path.join(dir, hlsKeys.recordingPlaylist('av', id!)), 'utf8'));
    assert.equal(live.mediaSequenceBase, recorded.segments.length - WINDOW, 'the live window holds the last segments');
    assert.equal(live.segments.at(-1)!.uri, `../../recordings/av/${id}/${recorded.segments.length - 1}.ts`);
  });

  it('records an audio-only stream', async () => {
    const [id] = await waitForEnded('audio', 1);
    await checkRecording('audio', id!, { video: false, audio: true, seconds: 6 });
    await checkLivePlaylist('audio');
  });

  it('records a video-only stream', async () => {
    const [id] = await waitForEnded('video', 1);
    await checkRecording('video', id!, { video: true, audio: false, seconds: 6 });
  });

  it('ends the live playlist when the broadcast ends and brings it back without EXT-X-ENDLIST, continuing its media sequence behind EXT-X-DISCONTINUITY', async () => {
    const ids = await waitForEnded('again', 2);
    for (const id of ids) await checkRecording('again', id, { video: true, audio: false, seconds: 4 });
    await checkLivePlaylist('again');
    const versions = store.puts.filter((p) => p.key === hlsKeys.livePlaylist('again')).map((p) => parseMediaPlaylist(p.body.toString('utf8')));
    const back = versions.findIndex((p) => p.segments.some((s) => s.uri.includes(ids[1]!)));
    const ended = versions[back - 1]!;
    assert.equal(ended.endlist, true, 'the first broadcast ended the playlist');
    assert.ok(ended.segments.every((s) => s.uri.includes(ids[0]!)));
    const live = versions[back]!;
    assert.equal(live.endlist, false, 'live again');
    assert.equal(live.mediaSequenceBase, (ended.mediaSequenceBase ?? 0) + ended.segments.length, 'the media sequence continues');
    assert.deepEqual(live.segments.map((s) => [s.uri.includes(ids[1]!), s.discontinuity ?? false]), [[true, true]]);
  });

  it('writes the live playlist within moments of the keyframe that completes a segment', (t) => {
    const latency = measureLatency(store.puts, keyframeTimes, hlsKeys.livePlaylist('av'));
    assert.ok(latency.cutToPlaylistMs.length >= 2);
    const max = Math.max(...latency.cutToPlaylistMs);
    t.diagnostic(`keyframe→playlist ms: ${latency.publishToPlaylistMs.join(', ')}; cut→playlist ms: ${latency.cutToPlaylistMs.join(', ')}`);
    assert.ok(max < 500, `cut to playlist took ${max} ms`);
    assert.deepEqual({ ...hls.stats(), bytesWritten: 0, segmentsWritten: 0 },
      { segmentsWritten: 0, bytesWritten: 0, segmentsDropped: 0, writeErrors: 0, segmentsCutAtCap: 0, activeBroadcasts: 0, queuedBytes: 0 });
  });
});
