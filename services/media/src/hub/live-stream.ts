import { GopCache } from './gop-cache.js';
import { MediaClock } from './media-clock.js';
import type { MediaPacket } from './media-packet.js';
import { RateMeter } from './rate-meter.js';
import type { StreamSubscriber } from './subscriber.js';

export interface PublisherInfo {
  /** "rtmp", "kcp" or "relay". */
  protocol: string;
  remoteAddress: string;
  /** Called by the hub to cut the publisher off (revoked key, shutdown). */
  disconnect(reason: string): void;
  /**
   * A pull from the task that owns the stream in the cluster: it holds no
   * lease and writes no HLS, and a local publisher that took the lease
   * replaces it at once, keeping its viewers.
   */
  clusterPull?: boolean;
}

/** What onMetaData told us, for the stream list. */
export interface StreamMetadata {
  width?: number;
  height?: number;
  framerate?: number;
  videoCodec?: string;
  audioCodec?: string;
  encoder?: string;
}

/**
 * One live stream: the publisher's packets, the state a new viewer needs to
 * start instantly (metadata, sequence headers, GOP cache), and the viewers.
 */
/** The in-process HLS writer subscribes like a viewer but is not audience. */
const HLS_WRITER = 'hls';

export class LiveStream {
  readonly startedAt = Date.now();
  readonly ingest = new RateMeter();
  metadata: MediaPacket | null = null;
  metadataInfo: StreamMetadata = {};
  videoSequenceHeader: MediaPacket | null = null;
  audioSequenceHeader: MediaPacket | null = null;
  readonly gop = new GopCache();
  /** Media time against the wall clock on arrival here (edges compare it with the origin's: the hop's delay). */
  readonly clock = new MediaClock();
  private readonly subscribers = new Set<StreamSubscriber>();
  private ended = false;
  packetsIn = 0;
  /** performance.now() of the last packet (or of the publish start): monotonic, so a clock step cannot fake silence. */
  private lastPacketAt = performance.now();

  constructor(
    readonly app: string,
    readonly name: string,
    readonly publisher: PublisherInfo,
    /** Called when the subscriber count changes (relay on-demand, metrics). */
    private readonly onSubscribersChanged: (stream: LiveStream) => void = () => {},
  ) {}

  get path(): string { return `${this.app}/${this.name}`; }
  get isEnded(): boolean { return this.ended; }
  get hasVideo(): boolean { return this.videoSequenceHeader !== null; }
  get subscriberCount(): number { return this.subscribers.size; }

  /** Viewers by protocol: every subscriber but the server's own HLS writer. */
  viewersByProtocol(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const s of this.subscribers) if (s.protocol !== HLS_WRITER) counts[s.protocol] = (counts[s.protocol] ?? 0) + 1;
    return counts;
  }

  /** Milliseconds since the publisher last sent a packet (or started, if it sent none). */
  silentForMs(now = performance.now()): number {
    return now - this.lastPacketAt;
  }

  get viewerCount(): number {
    let n = 0;
    for (const s of this.subscribers) if (s.protocol !== HLS_WRITER) n++;
    return n;
  }

  /** Feeds one packet from the publisher to the caches and every viewer. */
  push(packet: MediaPacket): void {
    if (this.ended) return;
    this.packetsIn++;
    this.lastPacketAt = performance.now();
    this.ingest.add(packet.payload.length);
    if (packet.isScript) {
      this.metadata = packet;
    } else if (packet.video?.sequenceHeader) {
      this.videoSequenceHeader = packet;
      this.gop.clear();
    } else if (packet.audio?.sequenceHeader) {
      this.audioSequenceHeader = packet;
    } else {
      this.gop.add(packet);
      this.clock.observe(packet.timestamp, Date.now());
    }
    for (const subscriber of this.subscribers) subscriber.send(packet);
  }

  /**
   * Attaches a viewer and immediately sends it everything it needs to start
   * decoding: metadata, sequence headers, then the cached GOP.
   */
  addSubscriber(subscriber: StreamSubscriber): void {
    if (this.ended) {
      subscriber.end('stream ended');
      return;
    }
    this.subscribers.add(subscriber);
    for (const packet of this.startupPackets()) subscriber.send(packet);
    this.onSubscribersChanged(this);
  }

  removeSubscriber(subscriber: StreamSubscriber): void {
    if (this.subscribers.delete(subscriber)) this.onSubscribersChanged(this);
  }

  startupPackets(): MediaPacket[] {
    const packets: MediaPacket[] = [];
    if (this.metadata) packets.push(this.metadata);
    if (this.videoSequenceHeader) packets.push(this.videoSequenceHeader);
    if (this.audioSequenceHeader) packets.push(this.audioSequenceHeader);
    packets.push(...this.gop.contents);
    return packets;
  }

  /** Takes the viewers away without ending them (they move to the stream's next publisher). */
  detachSubscribers(): StreamSubscriber[] {
    const subscribers = [...this.subscribers];
    this.subscribers.clear();
    return subscribers;
  }

  /** Ends the stream for every viewer. Idempotent. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    const subscribers = [...this.subscribers];
    this.subscribers.clear();
    for (const s of subscribers) s.end(reason);
    this.gop.clear();
  }
}
