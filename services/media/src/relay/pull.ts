import type { KcpStream } from 'kcp-ts/node';
import { relayLinkKcpStats, relayLinkTransport, type KcpLinkStats } from '../kcp-link-stats.js';
import type { LiveStream } from '../hub/live-stream.js';
import type { MediaPacket } from '../hub/media-packet.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { KcpTuning } from 'kcp-ts';
import type { RtmpClient } from '../rtmp/client.js';
import { Backoff } from './backoff.js';
import { isPermanentRefusal, type LinkReporter, type LinkState } from './link-state.js';
import { connectRtmp, isPlayNotification } from './transport.js';

export interface PullOptions {
  hub: StreamHub;
  /**
   * Where to pull app/name from: kcp://host:port or rtmp://host:port. Asked
   * on every (re)connect, so a cluster pull follows the stream to its new
   * owner task; undefined: not live anywhere (yet), ask again later.
   */
  origin(app: string, name: string): Promise<URL | undefined>;
  /** Pulls from the stream's owner in the cluster (see PublisherInfo.clusterPull). */
  clusterPull?: boolean;
  /** The name to play at the origin for app/name (signed relay name, or the plain name). */
  playName(app: string, name: string): string;
  /** Grace after the last viewer leaves before the pull stops. */
  idleMs: number;
  /** Give up (ending the local stream) after the link has been down this long. */
  giveUpMs?: number;
  /**
   * Keep pulling with no viewers here (an edge's own link to the origin in
   * EDGE_MODE=all: the edge writes the stream's HLS watched or not). The
   * pull then ends when the origin ends the stream, or when stopped.
   */
  keepWithoutViewers?: boolean;
  /** RelayPullManager: start a pull when a viewer waits here (hub 'demand'); default true. False: only pull() starts one. */
  startOnDemand?: boolean;
  /**
   * Reconnect when a live link has brought nothing for this long (ms; 0 or
   * unset: never). Over KCP a dead origin sends no reset, and behind a load
   * balancer the flow may stay pinned to it: without this the pull would
   * wait out KCP's 30 s idle timeout. An origin whose publisher is merely
   * silent costs a reconnect (its GOP again, skipped here).
   */
  silenceTimeoutMs?: number;
  report: LinkReporter;
  backoff?: () => Backoff;
  /** KCP tuning of kcp:// links (default: kcp-ts's live-video preset). */
  kcpTuning?: KcpTuning;
}


/** An origin that does not move (RELAY_ORIGIN, a bridge's server). */
export function fixedOrigin(origin: URL): () => Promise<URL> {
  return async () => origin;
}

/** A timeline jump back by more than this means the origin's publisher restarted. */
const TIMELINE_RESTART_MS = 5000;

/**
 * Pulls one stream from an origin into the local hub while it has viewers.
 * The stream is published here (protocol "relay") once the origin's startup
 * packets — metadata, sequence headers, then its cached GOP — are in, so
 * local viewers get fast start from the local GOP cache like any other
 * stream. When the link breaks the local stream stays up, viewers stay
 * attached, and the pull reconnects with backoff; on reconnect the origin
 * re-sends its GOP, which is skipped up to where the viewers already are.
 */
export class RelayPull {
  private client: RtmpClient | null = null;
  private local: LiveStream | null = null;
  /** Script and sequence-header packets before the first media packet. */
  private startup: MediaPacket[] = [];
  /** After a reconnect: skipping the re-sent GOP until the stream moves past what viewers saw. */
  private resuming = false;
  /**
   * While resuming: the origin changed (a cluster pull following its stream
   * to a new owner task), so the stream comes from another publish whose
   * timestamps say nothing about what viewers saw: resume at its first keyframe.
   */
  private originMoved = false;
  private lastVideoTs = -1;
  private lastAudioTs = -1;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly demandTimer: NodeJS.Timeout;
  private idleSince: number | null = null;
  private downSince: number | null = null;
  private readonly backoff: Backoff;
  private readonly path: string;
  /** The origin of the current or last connection. */
  private peer = '(not resolved yet)';
  private lastState: LinkState = 'connecting';
  /** performance.now() of the last packet on the current connection (or of its start). */
  private lastPacketAt = 0;
  /** Why the last connection failed or broke (not "not live yet"); null once media came. */
  private lastFailure: string | null = null;

  constructor(readonly app: string, readonly name: string, private readonly opts: PullOptions, private readonly onFinished: () => void) {
    this.path = `${app}/${name}`;
    this.backoff = opts.backoff?.() ?? new Backoff();
    this.demandTimer = setInterval(() => this.checkDemand(), Math.min(1000, Math.max(100, opts.idleMs / 4)));
    this.demandTimer.unref();
    void this.connect();
  }

  /** Ends the pull and the local stream. */
  stop(reason: string, state: LinkState = 'stopped'): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.demandTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    client?.close(reason);
    if (this.local) this.opts.hub.endPublish(this.local, reason);
    this.local = null;
    this.report(state, reason);
    this.onFinished();
  }

  private demand(): number {
    return (this.local?.viewerCount ?? 0) + this.opts.hub.waitingFor(this.app, this.name);
  }

  private checkDemand(): void {
    this.checkSilence();
    if (this.demand() > 0 || this.opts.keepWithoutViewers) {
      this.idleSince = null;
      return;
    }
    this.idleSince ??= Date.now();
    if (Date.now() - this.idleSince >= this.opts.idleMs) this.endUnwatched(`no viewers for ${Math.round(this.opts.idleMs / 1000)} s`);
  }

  /**
   * No viewer is left. A pull that never brought the stream, its last
   * attempt failed, did not merely stop: the viewers who asked got nothing
   * (an edge answers 404), so it ends as failed, with the cause, at warn.
   */
  private endUnwatched(why: string): void {
    if (this.local === null && this.lastFailure !== null) this.stop(`${why}; the stream never came: ${this.lastFailure}`, 'failed');
    else this.stop(why);
  }

  private checkSilence(): void {
    const limit = this.opts.silenceTimeoutMs ?? 0;
    const client = this.client;
    if (limit <= 0 || !client || !this.local || performance.now() - this.lastPacketAt <= limit) return;
    // Closing reports the loss (onLinkLost): the pull reconnects like after any break, keeping the local stream.
    client.close(`nothing from the origin for ${(limit / 1000).toFixed(0)} s`);
  }

  private async connect(): Promise<void> {
    this.retryTimer = null;
    this.report('connecting', this.downSince ? `attempt ${this.backoff.failures + 1}` : this.opts.keepWithoutViewers ? 'carrying it, watched or not' : 'a viewer asked for it');
    let client: RtmpClient | null = null;
    try {
      const origin = await this.opts.origin(this.app, this.name);
      if (this.stopped) return;
      if (!origin) return this.retry('not live anywhere yet');
      if (this.resuming && this.peer !== origin.href) this.originMoved = true;
      this.peer = origin.href;
      client = await connectRtmp(origin, this.app, undefined, this.opts.kcpTuning);
      if (this.stopped) return client.close('pull stopped');
      const current = client;
      this.client = current;
      this.lastPacketAt = performance.now();
      current.on('packet', (p) => this.onPacket(p));
      current.on('status', (code) => {
        if (code === 'NetStream.Play.UnpublishNotify') this.onOriginEnded(current);
      });
      current.on('close', (reason) => this.onLinkLost(current, reason));
      await current.play(this.opts.playName(this.app, this.name));
      if (this.client === current && !this.local) this.report('waiting', 'origin accepted; stream not live there yet');
    } catch (err) {
      const message = (err as Error).message;
      if (client && this.client === client) this.client = null;
      client?.close('play failed');
      if (isPermanentRefusal(message)) return this.stop(`origin refused: ${message}`, 'refused');
      this.lastFailure = message;
      this.retry(message);
    }
  }

  private onLinkLost(client: RtmpClient, reason: string): void {
    if (this.client !== client) return;
    this.client = null;
    this.lastFailure = reason;
    this.retry(reason);
  }

  private retry(reason: string): void {
    if (this.stopped) return;
    if (this.demand() === 0 && !this.opts.keepWithoutViewers) return this.endUnwatched('link lost and no viewers left');
    this.downSince ??= Date.now();
    const giveUpMs = this.opts.giveUpMs ?? 60_000;
    if (Date.now() - this.downSince > giveUpMs) return this.stop(`origin unreachable for ${Math.round(giveUpMs / 1000)} s: ${reason}`, 'failed');
    this.resuming = this.local !== null;
    const delay = this.backoff.next();
    this.report('retrying', `${reason}; next attempt in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  /** The origin's publisher left: end here too, as direct viewers of the origin see it end. */
  private onOriginEnded(client: RtmpClient): void {
    if (this.client !== client) return;
    if (this.local) this.opts.hub.endPublish(this.local, 'stream ended at the origin');
    this.local = null;
    this.resuming = false;
    this.originMoved = false;
    this.lastVideoTs = this.lastAudioTs = -1;
    this.report('waiting', 'stream ended at the origin');
    this.client = null;
    client.close('stream ended at the origin');
    // Viewers were just ended; anyone who joins meanwhile keeps the pull going.
    if (this.demand() === 0) this.stop('stream ended at the origin');
    else this.retry('stream ended at the origin');
  }

  private onPacket(packet: MediaPacket): void {
    if (this.stopped || isPlayNotification(packet)) return;
    this.lastPacketAt = performance.now();
    this.lastFailure = null;
    if (this.downSince !== null || this.backoff.failures > 0) {
      this.downSince = null;
      this.backoff.reset();
    }
    if (!this.local) {
      if (packet.isScript || packet.isSequenceHeader) {
        if (this.startup.length < 8) this.startup.push(packet);
        return;
      }
      const result = this.opts.hub.startPublish(this.app, this.name, {
        protocol: 'relay',
        remoteAddress: new URL(this.peer).host,
        disconnect: (reason) => this.stop(reason),
        ...(this.opts.clusterPull ? { clusterPull: true } : {}),
      });
      if (!result.ok) return this.stop('the stream is already published here');
      this.local = result.stream;
      for (const p of this.startup) this.forward(p);
      this.startup = [];
      this.report('live', 'stream published here');
    } else if (this.resuming && !this.admitWhileResuming(packet)) {
      return;
    }
    this.forward(packet);
  }

  private forward(packet: MediaPacket): void {
    if (packet.isVideo && !packet.isSequenceHeader) this.lastVideoTs = packet.timestamp;
    if (packet.isAudio && !packet.isSequenceHeader) this.lastAudioTs = packet.timestamp;
    this.local!.push(packet);
  }

  /**
   * After a reconnect the origin sends its startup packets again. Unchanged
   * headers are dropped (pushing one would empty the local GOP cache), and
   * media resumes at the first keyframe past the last one viewers got.
   */
  private admitWhileResuming(packet: MediaPacket): boolean {
    const local = this.local!;
    if (packet.isScript) return !local.metadata?.payload.equals(packet.payload);
    if (packet.isSequenceHeader) {
      const current = packet.isVideo ? local.videoSequenceHeader : local.audioSequenceHeader;
      return !current?.payload.equals(packet.payload);
    }
    const last = local.hasVideo ? this.lastVideoTs : this.lastAudioTs;
    const resumes = local.hasVideo ? packet.isKeyframe : packet.isAudio;
    if (!resumes) return false;
    if (!this.originMoved && packet.timestamp <= last && packet.timestamp + TIMELINE_RESTART_MS > last) return false;
    this.resuming = false;
    this.originMoved = false;
    this.report('live', 'resumed after reconnecting');
    return true;
  }

  /** The local stream this pull publishes (null until the origin's media arrived, and after it ended). */
  get stream(): LiveStream | null { return this.local; }

  /** The state last reported (see LinkState). */
  get state(): LinkState { return this.lastState; }

  /** The KCP session under the current connection (undefined for rtmp:// or while not connected). */
  get kcpStream(): KcpStream | undefined {
    return relayLinkTransport(this.client);
  }

  private report(state: LinkState, detail: string): void {
    this.lastState = state;
    this.opts.report({ direction: 'pull', stream: this.path, peer: this.peer, state, detail, kcp: this.kcpStats() });
  }

  /** The KCP link's estimates now; the media's sender (its queue, pacing, deadline) is the origin's viewer session. */
  kcpStats(): KcpLinkStats | undefined {
    return relayLinkKcpStats(this.client);
  }
}

/**
 * Pull on demand: when a viewer waits here for a stream that is not live
 * (hub 'demand'), pull it from the origin. One pull per stream.
 */
export class RelayPullManager {
  private readonly pulls = new Map<string, RelayPull>();
  private readonly onDemand = (app: string, name: string) => this.pull(app, name);

  constructor(private readonly opts: PullOptions) {
    if (opts.startOnDemand !== false) opts.hub.on('demand', this.onDemand);
  }

  get active(): ReadonlyMap<string, RelayPull> { return this.pulls; }

  pull(app: string, name: string): RelayPull {
    const key = `${app}/${name}`;
    let pull = this.pulls.get(key);
    if (!pull) {
      const created: RelayPull = new RelayPull(app, name, this.opts, () => {
        if (this.pulls.get(key) === created) this.pulls.delete(key);
      });
      this.pulls.set(key, (pull = created));
    }
    return pull;
  }

  close(reason = 'shutting down'): void {
    this.opts.hub.off('demand', this.onDemand);
    for (const pull of [...this.pulls.values()]) pull.stop(reason);
  }
}
