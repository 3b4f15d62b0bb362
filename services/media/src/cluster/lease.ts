/**
 * The lease a task holds on a live stream in the cluster's registry, and the
 * decisions about it. Pure: the stores (DynamoDB, memory) and the registry
 * do the I/O and ask these functions.
 *
 * Numbers: a lease is renewed every LIVE_LEASE_RENEW_MS (2 s) and lasts
 * LIVE_LEASE_FACTOR (3) renewal periods, so a task that dies loses its leases
 * at most 6 s after its last renewal. Sooner in practice: the lease carries
 * the publisher's last media time as of the last renewal, and a new publisher
 * may take a lease whose publisher has been silent for the takeover time
 * (PUBLISHER_TAKEOVER_MS, 5 s), the same rule a single task applies.
 */
export const LIVE_LEASE_RENEW_MS = 2000;
export const LIVE_LEASE_FACTOR = 3;

/** Where a task can be reached by the other tasks (its private address in the VPC). */
export interface TaskAddress {
  /** The task's id (SERVER_ID: also its name in relay via-chains). */
  owner: string;
  address: string;
  rtmpPort: number;
  kcpPort: number | undefined;
  httpPort: number;
}

export interface LiveLease extends TaskAddress {
  app: string;
  name: string;
  /** Made when the lease is taken: one publish on one task. A renewal or release names it, so a replaced publish cannot touch its successor's lease. */
  broadcastId: string;
  /** Epoch ms. Past it the lease is free. */
  expiresAt: number;
  /** Epoch ms of the publisher's last packet, as of the last renewal. */
  lastMediaAt: number;
  /**
   * The stream's lowest arrival offset on the owner (wall clock − media
   * timestamp, see hub/media-clock.ts) as of the last renewal: an edge
   * subtracts it from its own to measure the media's delay across the hop.
   */
  clockOffsetMs?: number;
  /** Incremented by every write that takes the lease: the conditional write's guard against a concurrent taker. */
  version: number;
}

export type ClaimDecision =
  | { take: true; replaces: 'nobody' | 'expired' | 'silent' | 'own' }
  | { take: false; reason: string };

/**
 * May `claimant` take the stream's lease? Free, expired, its own (the task's
 * hub then applies the local rule), or held for a publisher silent at least
 * `takeoverMs`: yes. Held for a live publisher on another task: no.
 */
export function decideClaim(existing: LiveLease | undefined, claimant: string, now: number, takeoverMs: number): ClaimDecision {
  if (!existing) return { take: true, replaces: 'nobody' };
  if (existing.expiresAt <= now) return { take: true, replaces: 'expired' };
  if (existing.owner === claimant) return { take: true, replaces: 'own' };
  if (now - existing.lastMediaAt >= takeoverMs) return { take: true, replaces: 'silent' };
  return { take: false, reason: `${existing.app}/${existing.name} is already being published (on task ${existing.owner})` };
}

/**
 * A refused claim worth waiting for: the holder has not reported media for
 * longer than a renewal period plus a second (a live holder reports media at
 * most one period old), so it is silent or dead, and the lease becomes
 * takeable within the takeover time. Returns when to ask again (epoch ms),
 * or undefined to refuse now. This lets an encoder that reconnects right
 * after its task died be accepted on its first attempt instead of refused.
 */
export function claimRetryAt(existing: LiveLease, now: number, takeoverMs: number, renewMs = LIVE_LEASE_RENEW_MS): number | undefined {
  if (now - existing.lastMediaAt <= renewMs + 1000) return undefined;
  return Math.min(existing.lastMediaAt + takeoverMs, existing.expiresAt);
}

/** A renewal or release applies only to the exact lease it names: same owner, same broadcast. */
export function isSameLease(existing: LiveLease | undefined, owner: string, broadcastId: string): existing is LiveLease {
  return existing !== undefined && existing.owner === owner && existing.broadcastId === broadcastId;
}

/** A lease counts (for pulls and /api/live) only until it expires. */
export function isLive(lease: LiveLease, now: number): boolean {
  return lease.expiresAt > now;
}

export function leaseExpiry(now: number, renewMs = LIVE_LEASE_RENEW_MS, factor = LIVE_LEASE_FACTOR): number {
  return now + renewMs * factor;
}
