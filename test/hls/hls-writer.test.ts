/**
 * The HLS writer's behaviour when storage misbehaves, driven with exact
 * frames on an in-process hub: a store that stalls (the bounded queue drops
 * and says so), a store that fails a put (no playlist names the lost
 * segment; the next one is marked discontinuous), shutdown mid-broadcast.
 * The store here is an in-memory implementation of our own ObjectStore
 * interface, the one seam the writer has; real stores are tested elsewhere.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { attachHls, hlsKeys } from '../../services/media/src/hls/hls-writer.js';
import { MediaPacket } from '../../services/media/src/hub/media-packet.js';
import { StreamHub } from '../../services/media/src/hub/stream-hub.js';
import { LocalObjectStore } from '../../services/media/src/storage/local-object-store.js';
import type { ObjectMeta, ObjectStore } from '../../services/media/src/storage/object-store.js';
import { RecordingObjectStore } from '../helpers/hls-capture.js';
import { parseMediaPlaylist } from '../helpers/hls-playlist.js';
import { memoryLogger, waitFor } from '../helpers/media-server.js';
import { demuxTs } from '../helpers/ts-demux.js';

class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, { body: Buffer; meta: ObjectMeta }>();
  /** Set to make puts of matching keys wait (resolve the returned gate to let them through) or fail. */
  gate: Promise<void> | null = null;
  failKey: string | null = null;
  flushed = false;
  /** Every version of every playlist, in the order they were stored. */
  readonly playlists: Array<{ key: string; text: string }> = [];

  async put(key: string, body: Buffer, meta: ObjectMeta): Promise<void> {
    if (key.endsWith('.ts') && this.gate) await this.gate;
    if (key === this.failKey) throw new Error('disk full');
    this.objects.set(key, { body, meta });
    if (key.endsWith('.m3u8')) this.playlists.push({ key, text: body.toString('utf8') });
  }
  async get(key: string): Promise<Buffer | null> { return this.objects.get(key)?.body ?? null; }
  async delete(key: string): Promise<void> { this.objects.delete(key); }
  async flush(): Promise<boolean> { this.flushed = true; return true; }
  async close(): Promise<void> {}
  text(key: string): string { return this.objects.get(key)!.body.toString('utf8'); }
}

const AVCC = Buffer.from([1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1e, 1, 0, 2, 0x68, 0xce]);

function video(timestamp: number, keyframe: boolean): MediaPacket {
  const nal = Buffer.alloc(400, 0x5a);
  nal[0] = keyframe ? 0x65 : 0x41;
  const body = Buffer.concat([Buffer.from([keyframe ? 0x17 : 0x27, 1, 0, 0, 0, 0, 0, 1, 0x90]), nal]);
  return new MediaPacket(9, timestamp, body);
}

/**
 * A video-only stream on `hub`: the sequence header, then `seconds` of 10 fps
 * video with a keyframe every second (or where `isKeyframe` says).
 */
function publish(hub: StreamHub, name: string, seconds: number, app = 'live', isKeyframe = (frame: number) => frame % 10 === 0) {
  const started = hub.startPublish(app, name, { protocol: 'rtmp', remoteAddress: '127.0.0.1', disconnect: () => {} });
  assert.ok(started.ok);
  const stream = started.stream;
  stream.push(new MediaPacket(9, 0, Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0]), AVCC])));
  let frame = 0;
  const pushUntil = (untilSeconds: number) => {
    for (; frame < untilSeconds * 10; frame++) stream.push(video(frame * 100, isKeyframe(frame)));
  };
  pushUntil(seconds);
  return { stream, pushUntil, end: () => hub.endPublish(stream) };
}

const options = (logger = memoryLogger().logger) => ({ segmentSeconds: 1, windowSegments: 3, logger });

/** The broadcast ids of stream `s` in `store`, oldest first. */
const broadcastsOf = (keys: Iterable<string>) => [...new Set([...keys].filter((k) => k.startsWith('recordings/s/')).map((k) => k.split('/')[2]!))].sort();

/** Every version of every playlist keeps one EXT-X-TARGETDURATION, and every EXTINF rounds to at most it. */
function assertTargetDurationHolds(playlists: ReadonlyArray<{ key: string; text: string }>, expected: number): void {
  assert.ok(playlists.length > 0);
  for (const { key, text } of playlists) {
    const p = parseMediaPlaylist(text);
    assert.equal(p.targetDuration, expected, `${key} at ${p.segments.length} segments`);
    for (const s of p.segments) assert.ok(Math.round(s.duration) <= expected, `${key}: ${s.uri} lasts ${s.duration}s`);
  }
}

describe('HLS writer against a misbehaving store', () => {
  it('drops segments beyond the queue bound, logs and counts them, and marks the gap', async () => {
    const hub = new StreamHub();
    const store = new MemoryStore();
    let release!: () => void;
    store.gate = new Promise((resolve) => { release = resolve; });
    const log = memoryLogger();
    const hls = attachHls(hub, store, { ...options(log.logger), maxQueuedBytes: 1 });
    const p = publish(hub, 's', 4.05); // cuts at 1, 2, 3, 4 s: segment 0 waits in the store, 1..3 are refused
    assert.equal(hls.stats().segmentsDropped, 3);
    await log.waitForLine((l) => l.msg === 'HLS segment dropped: storage is too far behind');
    release();
    store.gate = null;
    await waitFor(() => hls.stats().queuedBytes === 0 && hls.stats().segmentsWritten === 1, 2000, 'segment 0 stored');
    p.pushUntil(5.05);
    // The bound is one byte: the last segment fits only once segment 4 is out of the queue.
    await waitFor(() => hls.stats().queuedBytes === 0, 2000, 'segment 4 stored');
    p.end();
    await hls.close();
    const [broadcast] = new Set([...store.objects.keys()].filter((k) => k.startsWith('recordings/')).map((k) => k.split('/')[2]!));
    const recording = parseMediaPlaylist(store.text(hlsKeys.recordingPlaylist('s', broadcast!)));
    assert.deepEqual(recording.segments.map((s) => [s.uri, s.discontinuity ?? false]), [['0.ts', false], ['4.ts', true], ['5.ts', false]]);
    assert.equal(JSON.parse(store.text(hlsKeys.endMarker('s', broadcast!))).segments, 3);
    assert.equal(hls.stats().segmentsWritten, 3);
  });

  it('never names a segment whose put failed; the next one is discontinuous', async () => {
    const hub = new StreamHub();
    const store = new MemoryStore();
    const hls = attachHls(hub, store, options());
    const p = publish(hub, 's', 0.5);
    const dirOf = () => [...store.objects.keys()].find((k) => k.startsWith('recordings/'))!.split('/').slice(0, 3).join('/');
    p.pushUntil(1.05);
    await waitFor(() => store.objects.size > 0, 2000, 'segment 0');
    store.failKey = `${dirOf()}/1.ts`;
    p.pushUntil(3.05);
    p.end();
    await hls.close();
    const recording = parseMediaPlaylist(store.text(`${dirOf()}/index.m3u8`));
    assert.deepEqual(recording.segments.map((s) => [s.uri, s.discontinuity ?? false]), [['0.ts', false], ['2.ts', true], ['3.ts', false]]);
    assert.equal(hls.stats().writeErrors, 1);
    const live = parseMediaPlaylist(store.text(hlsKeys.livePlaylist('s')));
    assert.ok(live.segments.every((s) => !s.uri.endsWith('/1.ts')));
  });

  it('on close cuts the last segment of a live stream, writes end.json last and flushes the store', async () => {
    const hub = new StreamHub();
    const store = new MemoryStore();
    const hls = attachHls(hub, store, options());
    publish(hub, 's', 2.5);
    publish(hub, 'other-app', 2.5, 'vod');
    await hls.close();
    const keys = [...store.objects.keys()];
    assert.ok(keys.every((k) => k.includes('/s/')), 'streams of other apps are not segmented');
    assert.match(keys.at(-1)!, /end\.json$/);
    const ts = keys.filter((k) => k.endsWith('.ts'));
    assert.equal(ts.length, 3);
    const last = store.objects.get(ts[2]!)!;
    assert.equal(last.meta.metadata?.duration, '0.500');
    const demuxed = demuxTs(last.body);
    assert.deepEqual(demuxed.errors, []);
    assert.equal(demuxed.frames.length, 5);
    assert.equal(store.flushed, true);
    assert.equal(hls.stats().activeBroadcasts, 0);
    assert.equal(hub.get('live', 's')!.subscriberCount, 0, 'the writer unsubscribed');
  });
});

describe('HLS writer caps segments', () => {
  it('cuts at 3x the target when keyframes stop, logs once, and then keeps every segment within the target duration that first cut fixed', async () => {
    const hub = new StreamHub();
    const store = new MemoryStore();
    const log = memoryLogger();
    const hls = attachHls(hub, store, options(log.logger));
    const p = publish(hub, 's', 600, 'live', (frame) => frame === 0); // ten minutes after the only keyframe
    p.end();
    await hls.close();
    const [id] = broadcastsOf(store.objects.keys());
    const segments = [...store.objects].filter(([k]) => k.endsWith('.ts')).map(([, o]) => o);
    // The first segment is cut at 3x the 1 s target; it fixes EXT-X-TARGETDURATION at 3, and later ones are cut at 3.499 s.
    assert.equal(segments.length, 1 + Math.ceil((600 - 3) / 3.5));
    assert.equal(hls.stats().segmentsCutAtCap, segments.length - 1, 'all but the last, cut at the end of the stream');
    assert.equal(segments[0]!.meta.metadata!.duration, '3.000');
    assert.ok(segments.slice(1, -1).every((s) => s.meta.metadata!.duration === '3.499'));
    assert.ok(Math.max(...segments.map((s) => s.body.length)) < 35 * 600, 'a segment holds 3.5 s of frames, not the whole stream');
    assert.deepEqual(demuxTs(segments[1]!.body).errors, [], 'a segment cut mid-GOP is valid TS');
    assertTargetDurationHolds(store.playlists, 3);
    const recording = parseMediaPlaylist(store.text(hlsKeys.recordingPlaylist('s', id!)));
    assert.equal(recording.segments.length, segments.length);
    assert.ok(recording.segments.every((s) => !s.discontinuity), 'nothing was lost: no discontinuity');
    assert.equal(log.lines.filter((l) => l.msg.startsWith('HLS segment cut at the cap')).length, 1);
  });

  it('fixes EXT-X-TARGETDURATION from the first GOP, and cuts a GOP that grows mid-broadcast at what it admits', async () => {
    const hub = new StreamHub();
    const store = new MemoryStore();
    const hls = attachHls(hub, store, options());
    // 1 s GOPs for 4 s, then 2.5 s GOPs: a target duration recomputed from the segments so far would go from 1 to 3.
    const p = publish(hub, 's', 14, 'live', (frame) => (frame < 40 ? frame % 10 === 0 : (frame - 40) % 25 === 0));
    p.end();
    await hls.close();
    assertTargetDurationHolds(store.playlists, 1);
    assert.ok(hls.stats().segmentsCutAtCap > 0, 'the longer GOPs are cut at 1.499 s');
  });

  it('follows a GOP longer than the segment setting instead of a worst-case cap', async () => {
    const hub = new StreamHub();
    const store = new MemoryStore();
    const hls = attachHls(hub, store, options());
    publish(hub, 's', 12, 'live', (frame) => frame % 25 === 0).end(); // 2.5 s GOPs, 1 s segments
    await hls.close();
    assertTargetDurationHolds(store.playlists, 3);
    assert.equal(hls.stats().segmentsCutAtCap, 0, 'every segment starts with a keyframe');
  });

  it('cuts at the byte cap', async () => {
    const hub = new StreamHub();
    const store = new MemoryStore();
    const hls = attachHls(hub, store, { ...options(), maxSegmentSeconds: 30, maxSegmentBytes: 4000 });
    publish(hub, 's', 20, 'live', (frame) => frame % 100 === 0).end(); // 10 s GOPs of ~600 TS bytes a frame
    await hls.close();
    const segments = [...store.objects].filter(([k]) => k.endsWith('.ts')).map(([, o]) => o.body.length);
    assert.ok(segments.length >= 20, `${segments.length} segments`);
    assert.ok(Math.max(...segments) < 4000 + 1000, `largest segment ${Math.max(...segments)} bytes`);
    assert.equal(hls.stats().segmentsCutAtCap, segments.length - 1);
    assertTargetDurationHolds(store.playlists, 1); // the first segment, cut at the byte cap, lasted under 1 s
  });

  it('cuts a video stream that sends only audio', async () => {
    const hub = new StreamHub();
    const store = new MemoryStore();
    const hls = attachHls(hub, store, options());
    const { stream, end } = publish(hub, 's', 0.05); // one keyframe
    stream.push(new MediaPacket(8, 0, Buffer.from([0xaf, 0, 0x12, 0x10]))); // AAC LC, 44.1 kHz, stereo
    for (let t = 23; t < 30_000; t += 23) stream.push(new MediaPacket(8, t, Buffer.concat([Buffer.from([0xaf, 1]), Buffer.alloc(200, 0x21)])));
    end();
    await hls.close();
    const ts = [...store.objects.keys()].filter((k) => k.endsWith('.ts'));
    assert.equal(ts.length, 1 + Math.ceil((30 - 3) / 3.5)); // 3 s (the cap), then 3.499 s each
    assert.equal(hls.stats().segmentsCutAtCap, ts.length - 1);
    assertTargetDurationHolds(store.playlists, 3);
  });
});

describe('HLS writer after a restart', () => {
  it('continues a live playlist a crashed process left without EXT-X-ENDLIST: media and discontinuity sequences, behind a discontinuity', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-resume-'));
    try {
      const livePath = path.join(dir, hlsKeys.livePlaylist('s'));
      const hub1 = new StreamHub();
      attachHls(hub1, new LocalObjectStore(dir), options());
      publish(hub1, 's', 5.05); // segments 0..4 stored, window of three; then the process dies: nobody ends the broadcast
      const readLive = async () => parseMediaPlaylist(await readFile(livePath, 'utf8').catch(() => '#EXTM3U\n'));
      await waitFor(async () => (await readLive()).mediaSequenceBase === 2, 2000, 'segments 0..4 listed');
      assert.equal((await readLive()).endlist, false);
      const [oldId] = await readdir(path.join(dir, 'recordings/s'));

      // The process restarts (or the publisher moved to another task) on the same storage.
      const hub2 = new StreamHub();
      const store = new RecordingObjectStore(new LocalObjectStore(dir));
      const second = attachHls(hub2, store, options());
      publish(hub2, 's', 3.05).end();
      await second.close();
      const newId = (await readdir(path.join(dir, 'recordings/s'))).find((id) => id !== oldId);
      const livePuts = store.puts.filter((p) => p.key === hlsKeys.livePlaylist('s'));
      let live = parseMediaPlaylist(livePuts[0]!.body.toString('utf8'));
      assert.equal(live.mediaSequenceBase, 3, 'the first new segment pushed one old one out');
      assert.equal(live.discontinuitySequenceBase, 0);
      assert.deepEqual(live.segments.map((s) => [s.uri.split('/').slice(-2).join('/'), s.discontinuity ?? false]),
        [[`${oldId}/3.ts`, false], [`${oldId}/4.ts`, false], [`${newId}/0.ts`, true]]);
      live = await readLive();
      assert.equal(live.endlist, true, 'the new broadcast ended');
      assert.equal(live.mediaSequenceBase, 6);
      assert.equal(live.discontinuitySequenceBase, 1, 'the discontinuity slid out of the window');
      assert.deepEqual(live.segments.map((s) => s.uri.split('/').slice(-2).join('/')), [1, 2, 3].map((n) => `${newId}/${n}.ts`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('LocalObjectStore', () => {
  it('writes atomically into nested directories, refuses keys that escape its root, deletes idempotently', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-store-'));
    try {
      const store = new LocalObjectStore(dir);
      const meta = { contentType: 'text/plain', cacheControl: 'no-cache' };
      await store.put('a/b/c.txt', Buffer.from('one'), meta);
      await store.put('a/b/c.txt', Buffer.from('two'), meta);
      assert.equal(await readFile(path.join(dir, 'a/b/c.txt'), 'utf8'), 'two');
      assert.deepEqual(await readdir(path.join(dir, 'a/b')), ['c.txt'], 'no temp files left');
      for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', 'a/./b', 'a\\..\\b']) {
        await assert.rejects(store.put(bad, Buffer.from('x'), meta), /invalid object key/, bad);
      }
      await store.delete('a/b/c.txt');
      await store.delete('a/b/c.txt');
      assert.deepEqual(await readdir(path.join(dir, 'a/b')), []);
      assert.equal(await store.flush(10), true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
