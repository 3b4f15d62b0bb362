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
import { parseMediaPlaylist } from '../helpers/hls-playlist.js';
import { memoryLogger, waitFor } from '../helpers/media-server.js';
import { demuxTs } from '../helpers/ts-demux.js';

class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, { body: Buffer; meta: ObjectMeta }>();
  /** Set to make puts of matching keys wait (resolve the returned gate to let them through) or fail. */
  gate: Promise<void> | null = null;
  failKey: string | null = null;
  flushed = false;

  async put(key: string, body: Buffer, meta: ObjectMeta): Promise<void> {
    if (key.endsWith('.ts') && this.gate) await this.gate;
    if (key === this.failKey) throw new Error('disk full');
    this.objects.set(key, { body, meta });
  }
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

/** A video-only stream on `hub`: the sequence header, then `seconds` of 10 fps video with a keyframe every second. */
function publish(hub: StreamHub, name: string, seconds: number, app = 'live') {
  const started = hub.startPublish(app, name, { protocol: 'rtmp', remoteAddress: '127.0.0.1', disconnect: () => {} });
  assert.ok(started.ok);
  const stream = started.stream;
  stream.push(new MediaPacket(9, 0, Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0]), AVCC])));
  let frame = 0;
  const pushUntil = (untilSeconds: number) => {
    for (; frame < untilSeconds * 10; frame++) stream.push(video(frame * 100, frame % 10 === 0));
  };
  pushUntil(seconds);
  return { stream, pushUntil, end: () => hub.endPublish(stream) };
}

const options = (logger = memoryLogger().logger) => ({ segmentSeconds: 1, windowSegments: 3, logger });

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
