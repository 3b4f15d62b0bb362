import { EventEmitter } from 'node:events';
import { LiveStream, type PublisherInfo } from './live-stream.js';
import type { StreamSubscriber } from './subscriber.js';

/** `replaced`: the silent publisher this one took the stream from. */
export type PublishResult = { ok: true; stream: LiveStream; replaced?: PublisherInfo } | { ok: false; reason: string };

/**
 * A publisher silent this long may be replaced by a new one for the same
 * stream. An encoder whose network changed (Wi-Fi to LTE, a new NAT
 * mapping; over KCP a new source address) reconnects long before its old
 * session times out (30 s over KCP), and would otherwise be refused until
 * then. Five seconds of no media is already a frozen picture for viewers,
 * and well above the gaps a live encoder leaves (a GOP is 1 to 4 s).
 */
export const DEFAULT_PUBLISHER_TAKEOVER_MS = 5000;

interface HubEvents {
  publish: [LiveStream];
  unpublish: [LiveStream];
  /** A viewer is waiting for a stream that is not live here (relay pull on demand). */
  demand: [app: string, name: string];
  /** A stream's viewer count changed. */
  subscribers: [LiveStream];
}

/**
 * The registry of live streams, keyed by app + stream name. Exactly one
 * publisher per stream: a second publisher is refused while the first is
 * sending, and takes over only from one that has been silent for
 * `publisherTakeoverMs` (nginx-rtmp's drop_idle_publisher, decided when the
 * new publisher arrives). Viewers that arrive before the publisher (RTMP play does
 * this; so does a relay edge) wait, bounded in number, until it starts.
 */
export class StreamHub extends EventEmitter<HubEvents> {
  private readonly streams = new Map<string, LiveStream>();
  private readonly waiting = new Map<string, Set<StreamSubscriber>>();
  private waitingCount = 0;

  private readonly maxWaitingViewers: number;
  private readonly publisherTakeoverMs: number;

  constructor(options: { maxWaitingViewers?: number; publisherTakeoverMs?: number } = {}) {
    super();
    this.maxWaitingViewers = options.maxWaitingViewers ?? 10_000;
    this.publisherTakeoverMs = options.publisherTakeoverMs ?? DEFAULT_PUBLISHER_TAKEOVER_MS;
  }

  static key(app: string, name: string): string {
    return `${app}/${name}`;
  }

  get(app: string, name: string): LiveStream | undefined {
    return this.streams.get(StreamHub.key(app, name));
  }

  list(): LiveStream[] {
    return [...this.streams.values()];
  }

  /** The streams published on this server: every stream but the pulls from their owner task in a cluster. */
  publishedHere(): LiveStream[] {
    return this.list().filter((s) => !s.publisher.clusterPull);
  }

  startPublish(app: string, name: string, publisher: PublisherInfo): PublishResult {
    const key = StreamHub.key(app, name);
    const current = this.streams.get(key);
    let handedOver: StreamSubscriber[] = [];
    if (current?.publisher.clusterPull) {
      // This task now owns the stream (it took the lease): the pull from the old owner steps aside, its viewers stay.
      handedOver = current.detachSubscribers();
      current.publisher.disconnect('the stream is published on this task now');
      this.endPublish(current, 'the stream is published on this task now');
    } else if (current) {
      const silentMs = current.silentForMs();
      if (silentMs < this.publisherTakeoverMs) return { ok: false, reason: `stream ${key} is already being published` };
      const reason = `replaced by a new publisher after ${(silentMs / 1000).toFixed(1)} s without media`;
      current.publisher.disconnect(reason);
      this.endPublish(current, reason);
    }
    const stream = new LiveStream(app, name, publisher, (s) => this.emit('subscribers', s));
    this.streams.set(key, stream);
    this.emit('publish', stream);
    for (const subscriber of handedOver) stream.addSubscriber(subscriber);
    const waiting = this.waiting.get(key);
    if (waiting) {
      this.waiting.delete(key);
      this.waitingCount -= waiting.size;
      for (const subscriber of waiting) stream.addSubscriber(subscriber);
    }
    return current && !current.publisher.clusterPull ? { ok: true, stream, replaced: current.publisher } : { ok: true, stream };
  }

  endPublish(stream: LiveStream, reason = 'publisher left'): void {
    const key = stream.path;
    if (this.streams.get(key) !== stream) return;
    this.streams.delete(key);
    stream.end(reason);
    this.emit('unpublish', stream);
  }

  /**
   * Attaches a viewer to a live stream, or, with `wait`, parks it until the
   * stream starts. Returns false if the stream is not live and the viewer
   * cannot wait.
   */
  subscribe(app: string, name: string, subscriber: StreamSubscriber, wait: boolean): boolean {
    const stream = this.get(app, name);
    if (stream) {
      stream.addSubscriber(subscriber);
      return true;
    }
    if (!wait || this.waitingCount >= this.maxWaitingViewers) return false;
    const key = StreamHub.key(app, name);
    let set = this.waiting.get(key);
    if (!set) this.waiting.set(key, (set = new Set()));
    set.add(subscriber);
    this.waitingCount++;
    this.emit('demand', app, name);
    return true;
  }

  unsubscribe(app: string, name: string, subscriber: StreamSubscriber): void {
    this.get(app, name)?.removeSubscriber(subscriber);
    const key = StreamHub.key(app, name);
    const set = this.waiting.get(key);
    if (set?.delete(subscriber)) {
      this.waitingCount--;
      if (set.size === 0) this.waiting.delete(key);
    }
  }

  /** Number of viewers waiting for a stream that is not live yet. */
  waitingFor(app: string, name: string): number {
    return this.waiting.get(StreamHub.key(app, name))?.size ?? 0;
  }

  /** Ends every stream (shutdown); waiting viewers are told too. */
  closeAll(reason: string): void {
    for (const stream of this.list()) {
      stream.publisher.disconnect(reason);
      this.endPublish(stream, reason);
    }
    for (const set of this.waiting.values()) for (const s of set) s.end(reason);
    this.waiting.clear();
    this.waitingCount = 0;
  }
}
