import { ViewerBackpressure } from '../hub/backpressure.js';
import type { LiveStream } from '../hub/live-stream.js';
import type { MediaPacket } from '../hub/media-packet.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { StreamSubscriber } from '../hub/subscriber.js';
import type { KcpTuning } from 'kcp-ts';
import type { RtmpClient } from '../rtmp/client.js';
import { Backoff } from './backoff.js';
import { isPermanentRefusal, type LinkReporter, type LinkState } from './link-state.js';
import { matchesStreamPattern, type PushTarget } from './relay-config.js';
import { connectRtmp } from './transport.js';

export interface PushOptions {
  /**
   * The name to publish at the target for app/name (signed relay name, the
   * name as is, or a publish proof bound to the session's `serverNonce`).
   */
  publishName(app: string, name: string, serverNonce: Buffer | undefined): string;
  /** Bytes queued towards the target before it skips to the next keyframe. */
  maxBacklogBytes: number;
  report: LinkReporter;
  backoff?: () => Backoff;
  /** KCP tuning of kcp:// links (default: kcp-ts's live-video preset). */
  kcpTuning?: KcpTuning;
}

/**
 * Publishes one local stream to one target for as long as the stream lives.
 * It is a subscriber of the stream, attached only while the target accepts
 * the publish, so each (re)connection starts with the stream's startup
 * packets (metadata, sequence headers, GOP) and the target can give its own
 * viewers fast start. A target that cannot keep up gets the viewers'
 * treatment: a bounded queue, then a skip to the next keyframe.
 */
export class RelayPush implements StreamSubscriber {
  readonly protocol = 'relay';
  private client: RtmpClient | null = null;
  private attached = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private backpressure: ViewerBackpressure;
  private readonly backoff: Backoff;
  private readonly path: string;

  constructor(private readonly stream: LiveStream, readonly target: URL, private readonly opts: PushOptions, private readonly onFinished: () => void) {
    this.path = stream.path;
    this.backoff = opts.backoff?.() ?? new Backoff();
    this.backpressure = new ViewerBackpressure(opts.maxBacklogBytes);
    void this.connect();
  }

  /** Packets skipped because the target fell behind, over all connections. */
  droppedPackets = 0;

  send(packet: MediaPacket): void {
    const client = this.client;
    if (!client) return;
    if (!this.backpressure.admit(packet, client.queuedBytes, this.stream.hasVideo)) return;
    client.sendPacket(packet);
  }

  /** The stream ended here. */
  end(reason: string): void {
    this.stop(reason);
  }

  stop(reason: string, state: LinkState = 'stopped'): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.detach();
    const client = this.client;
    this.client = null;
    client?.close(reason);
    this.report(state, reason);
    this.onFinished();
  }

  private async connect(): Promise<void> {
    this.retryTimer = null;
    this.report('connecting', this.backoff.failures ? `attempt ${this.backoff.failures + 1}` : 'stream went live here');
    let client: RtmpClient | null = null;
    try {
      client = await connectRtmp(this.target, this.stream.app, undefined, this.opts.kcpTuning);
      if (this.stopped) return client.close('push stopped');
      const current = client;
      current.on('close', (reason) => this.onLinkLost(current, reason));
      await current.publish(this.opts.publishName(this.stream.app, this.stream.name, current.connection.serverNonce));
      if (this.stopped || this.stream.isEnded) return current.close('stream ended');
      this.client = current;
      this.backoff.reset();
      this.backpressure = new ViewerBackpressure(this.opts.maxBacklogBytes);
      this.attached = true;
      this.stream.addSubscriber(this);
      this.report('live', 'target accepted the publish');
    } catch (err) {
      const message = (err as Error).message;
      client?.close('publish failed');
      if (isPermanentRefusal(message)) this.stop(`target refused: ${message}`, 'refused');
      else this.retry(message);
    }
  }

  private onLinkLost(client: RtmpClient, reason: string): void {
    if (this.client !== client) return;
    this.client = null;
    this.detach();
    this.retry(reason);
  }

  private retry(reason: string): void {
    if (this.stopped) return;
    if (this.stream.isEnded) return this.stop('stream ended');
    const delay = this.backoff.next();
    this.report('retrying', `${reason}; next attempt in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  private detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.droppedPackets += this.backpressure.droppedPackets;
    this.stream.removeSubscriber(this);
  }

  private report(state: LinkState, detail: string): void {
    this.opts.report({ direction: 'push', stream: this.path, peer: this.target.href, state, detail });
  }
}

/** Push: when a stream matching a target's patterns goes live here, publish it to that target. */
export class RelayPushManager {
  private readonly pushes = new Set<RelayPush>();
  private readonly onPublish = (stream: LiveStream) => this.startPushes(stream);

  constructor(private readonly hub: StreamHub, private readonly targets: PushTarget[], private readonly opts: PushOptions) {
    hub.on('publish', this.onPublish);
  }

  get active(): ReadonlySet<RelayPush> { return this.pushes; }

  private startPushes(stream: LiveStream): void {
    for (const target of this.targets) {
      if (!target.streams.some((p) => matchesStreamPattern(p, stream.app, stream.name))) continue;
      const push: RelayPush = new RelayPush(stream, target.url, this.opts, () => this.pushes.delete(push));
      this.pushes.add(push);
    }
  }

  close(reason = 'shutting down'): void {
    this.hub.off('publish', this.onPublish);
    for (const push of [...this.pushes]) push.stop(reason);
  }
}
