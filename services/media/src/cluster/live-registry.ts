import { newBroadcastId } from '@bridgecast/contracts';
import type { LiveStream } from '../hub/live-stream.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { Logger } from '../logger.js';
import { claimRetryAt, decideClaim, isLive, leaseExpiry, LIVE_LEASE_FACTOR, LIVE_LEASE_RENEW_MS, type LiveLease, type TaskAddress } from './lease.js';
import type { LeaseStore } from './lease-store.js';

export type ClaimResult = { ok: true; lease: LiveLease } | { ok: false; reason: string };

export interface LiveRegistryOptions {
  store: LeaseStore;
  hub: StreamHub;
  /** This task; its ports are known once it listens, hence a function. */
  self: () => TaskAddress;
  takeoverMs: number;
  logger: Logger;
  renewMs?: number;
  now?: () => number;
}

interface Held {
  lease: LiveLease;
  /** The local stream the lease was taken for, once its publish started. */
  stream: LiveStream | null;
  claimedAt: number;
}

/** A claim whose publish never started here (the hub refused it, the session closed) is given back after this. */
const UNUSED_CLAIM_MS = 10_000;

/**
 * The cluster's live streams: this task's leases (taken when a publish is
 * authorized, renewed while live, released on unpublish) and lookups of the
 * others' (where to pull a stream from, the cluster-wide live list).
 * A task that loses a lease (taken over because its publisher was silent)
 * disconnects that publisher, so one task writes a stream's playlist.
 */
export class LiveRegistry {
  private readonly held = new Map<string, Held>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly renewMs: number;
  private readonly onPublish = (stream: LiveStream) => {
    const held = this.held.get(stream.path);
    if (held && !held.stream && !stream.publisher.clusterPull) held.stream = stream;
  };
  private readonly onUnpublish = (stream: LiveStream) => {
    const held = this.held.get(stream.path);
    if (held?.stream === stream) void this.release(stream.path, held);
  };

  constructor(private readonly opts: LiveRegistryOptions) {
    this.now = opts.now ?? Date.now;
    this.renewMs = opts.renewMs ?? LIVE_LEASE_RENEW_MS;
    opts.hub.on('publish', this.onPublish);
    opts.hub.on('unpublish', this.onUnpublish);
    this.timer = setInterval(() => void this.renewAll(), this.renewMs);
    this.timer.unref();
  }

  get taskId(): string { return this.opts.self().owner; }

  /** Takes the stream's lease for a publish being authorized here, or says who holds it. */
  async claim(app: string, name: string): Promise<ClaimResult> {
    // Three rounds: a wait for a dying holder, and a lost race re-read once (the winner is then usually live and the answer is no).
    for (let round = 0; round < 3; round++) {
      const existing = await this.opts.store.get(app, name);
      const now = this.now();
      const decision = decideClaim(existing, this.taskId, now, this.opts.takeoverMs);
      if (!decision.take) {
        const retryAt = round === 0 ? claimRetryAt(existing!, now, this.opts.takeoverMs, this.renewMs) : undefined;
        if (retryAt === undefined) return { ok: false, reason: decision.reason };
        await sleep(retryAt - now + 50);
        continue;
      }
      const lease: LiveLease = {
        ...this.opts.self(), app, name, broadcastId: newBroadcastId(new Date(now)),
        expiresAt: leaseExpiry(now, this.renewMs), lastMediaAt: now, version: (existing?.version ?? 0) + 1,
      };
      if (await this.opts.store.put(lease, existing?.version)) {
        if (decision.replaces === 'expired' || decision.replaces === 'silent') {
          this.opts.logger.warn({ stream: `${app}/${name}`, from: existing!.owner, why: decision.replaces }, 'took over the stream lease');
        }
        const path = `${app}/${name}`;
        const previous = this.held.get(path);
        this.held.set(path, { lease, stream: null, claimedAt: now });
        // A publish replacing a silent one here: the old stream no longer releases anything.
        if (previous?.stream) previous.stream = null;
        return { ok: true, lease };
      }
    }
    return { ok: false, reason: `${app}/${name} was just claimed by another task` };
  }

  /** True while this task holds app/name's lease (claimed, or publishing it). */
  holds(app: string, name: string): boolean {
    return this.held.has(`${app}/${name}`);
  }

  /** The live lease of app/name held by another task: where to pull it from. */
  async ownerElsewhere(app: string, name: string): Promise<LiveLease | undefined> {
    const lease = await this.opts.store.get(app, name);
    return lease && isLive(lease, this.now()) && lease.owner !== this.taskId ? lease : undefined;
  }

  /** Every live stream in the cluster. */
  async list(): Promise<LiveLease[]> {
    const now = this.now();
    return (await this.opts.store.list()).filter((l) => isLive(l, now));
  }

  /** Ms a dead task's leases stay held at most. */
  get deadTaskBoundMs(): number { return this.renewMs * LIVE_LEASE_FACTOR; }

  private async renewAll(): Promise<void> {
    const now = this.now();
    await Promise.all([...this.held].map(async ([path, held]) => {
      // A claim for a second publish on this task that the hub then refused: the first publish keeps the (rewritten) lease.
      const local = this.opts.hub.get(held.lease.app, held.lease.name);
      if (!held.stream && local && !local.publisher.clusterPull) held.stream = local;
      const stream = held.stream;
      if (!stream) {
        if (now - held.claimedAt > UNUSED_CLAIM_MS) await this.release(path, held);
        return;
      }
      const lastMediaAt = now - stream.silentForMs();
      try {
        if (await this.opts.store.renew(held.lease, leaseExpiry(now, this.renewMs), lastMediaAt, stream.clock.minOffsetMs)) return;
      } catch (err) {
        // The lease runs out on its own if the store stays unreachable; the publisher keeps going until then.
        this.opts.logger.error({ err, stream: path }, 'stream lease renewal failed');
        return;
      }
      if (this.held.get(path) !== held) return;
      this.held.delete(path);
      this.opts.logger.warn({ stream: path }, 'stream lease taken over by another task; disconnecting the publisher here');
      stream.publisher.disconnect('another task took this stream over');
      this.opts.hub.endPublish(stream, 'publisher moved to another task');
    }));
  }

  private async release(path: string, held: Held): Promise<void> {
    if (this.held.get(path) === held) this.held.delete(path);
    try {
      await this.opts.store.release(held.lease);
    } catch (err) {
      this.opts.logger.error({ err, stream: path }, 'stream lease release failed; it expires on its own');
    }
  }

  /** Releases every lease (shutdown: the encoders reconnect to other tasks, which may take them at once). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.opts.hub.off('publish', this.onPublish);
    this.opts.hub.off('unpublish', this.onUnpublish);
    await Promise.all([...this.held].map(([path, held]) => this.release(path, held)));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
