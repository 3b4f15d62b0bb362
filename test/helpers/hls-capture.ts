/**
 * Observing the HLS writer from outside: an ObjectStore wrapper that logs
 * every put (key, metadata, time), keyframe arrival times on the hub, and
 * the publish-to-playlist latency computed from both.
 */
import type { LiveStream } from '@bridgecast/media/hub/live-stream.js';
import type { StreamHub } from '@bridgecast/media/hub/stream-hub.js';
import type { ObjectMeta, ObjectStore } from '@bridgecast/media/storage/object-store.js';

export interface PutRecord { key: string; meta: ObjectMeta; body: Buffer; at: number }

/** Delegates to `inner` and records each completed put in order. */
export class RecordingObjectStore implements ObjectStore {
  readonly puts: PutRecord[] = [];

  constructor(private readonly inner: ObjectStore) {}

  async put(key: string, body: Buffer, meta: ObjectMeta): Promise<void> {
    await this.inner.put(key, body, meta);
    this.puts.push({ key, meta, body, at: Date.now() });
  }

  get(key: string): Promise<Buffer | null> { return this.inner.get(key); }
  delete(key: string): Promise<void> { return this.inner.delete(key); }
  flush(timeoutMs: number): Promise<boolean> { return this.inner.flush(timeoutMs); }
  close(): Promise<void> { return this.inner.close(); }
}

/** Records when each video keyframe of `streamName` reaches the hub (a non-viewer subscriber). */
export function recordKeyframeTimes(hub: StreamHub, streamName: string): number[] {
  const times: number[] = [];
  const onPublish = (stream: LiveStream): void => {
    if (stream.name !== streamName) return;
    stream.addSubscriber({
      protocol: 'hls',
      // ffmpeg ends with an AVC end-of-sequence tag that is flagged as a keyframe: not a frame.
      send: (packet) => { if (packet.isKeyframe && !packet.video!.endOfSequence) times.push(Date.now()); },
      end: () => hub.off('publish', onPublish),
    });
  };
  hub.on('publish', onPublish);
  return times;
}

export interface HlsLatency {
  /** Keyframe that starts segment n → live playlist first listing segment n (includes the segment's own duration). */
  publishToPlaylistMs: number[];
  /** Keyframe that ends segment n (the cut) → live playlist listing it: muxing plus storage. */
  cutToPlaylistMs: number[];
}

/**
 * Latencies of one broadcast whose GOP equals the segment target (so keyframe
 * k starts segment k and ends segment k-1). The last segment, cut at the end
 * of the stream rather than by a keyframe, is left out.
 */
export function measureLatency(puts: readonly PutRecord[], keyframeTimes: readonly number[], livePlaylistKey: string): HlsLatency {
  const firstListed = new Map<number, number>();
  for (const put of puts) {
    if (put.key !== livePlaylistKey) continue;
    for (const match of put.body.toString('utf8').matchAll(/\/(\d+)\.ts$/gm)) {
      const seq = Number(match[1]);
      if (!firstListed.has(seq)) firstListed.set(seq, put.at);
    }
  }
  const result: HlsLatency = { publishToPlaylistMs: [], cutToPlaylistMs: [] };
  for (const [seq, at] of firstListed) {
    if (seq + 1 >= keyframeTimes.length) continue;
    result.publishToPlaylistMs.push(at - keyframeTimes[seq]!);
    result.cutToPlaylistMs.push(at - keyframeTimes[seq + 1]!);
  }
  return result;
}
