import { seqDiff } from './seq.js';
import type { Kcp, KcpSendOps } from './kcp.js';

/**
 * Pacing as a send hook: at most `kbit` kbit/s of segments (headers
 * included, first sends and retransmissions alike; acks are never held).
 * The bucket holds two flush intervals' worth (at least two full
 * datagrams), so a flush can send what the interval earned without
 * bursting a keyframe into a narrow link all at once: excess waits in the
 * sender's buffer rather than in (and overflowing) a router's queue. Only
 * the sender changes, so peers need nothing.
 */
/** Longest flush delay whose earned budget is honoured (see sendBudget). */
const LATE_FLUSH_MS = 100;

export class TokenBucketPacer implements KcpSendOps {
  private bytesPerMs: number;
  private tokens = 0;
  /** `current` of the last refill; undefined until the first flush, which starts with a full bucket. */
  private refilledAt: number | undefined;

  constructor(kbit: number) {
    this.bytesPerMs = 0;
    this.rateKbit = kbit;
  }

  get rateKbit(): number {
    return this.bytesPerMs * 8;
  }

  /** Changes the rate from the next refill on (a congestion controller's pacing rate). */
  set rateKbit(kbit: number) {
    if (!(kbit > 0)) throw new RangeError(`pacing rate must be positive, got ${kbit} kbit/s`);
    this.bytesPerMs = kbit / 8;
  }

  /** Adds what the time since the last flush earned; returns the bytes this flush may send. */
  sendBudget(kcp: Kcp, current: number): number {
    // The bucket's size follows the current mtu and interval (either may change after the rate is set).
    const burst = Math.max(2 * kcp.mtu, Math.ceil(2 * kcp.interval * this.bytesPerMs));
    if (this.refilledAt === undefined) {
      this.tokens = burst;
    } else {
      const elapsed = Math.max(0, seqDiff(current, this.refilledAt));
      // A flush that comes late (a busy event loop fires a 10 ms timer after 30 or 50) may send what
      // the time earned, up to LATE_FLUSH_MS: capping at two intervals would silently pace below the
      // rate whenever timers slip. After longer idle the cap applies, so idle time is not a burst.
      const cap = Math.max(burst, Math.min(elapsed, LATE_FLUSH_MS) * this.bytesPerMs);
      this.tokens = Math.min(cap, this.tokens + elapsed * this.bytesPerMs);
    }
    this.refilledAt = current;
    return this.tokens;
  }

  sent(_kcp: Kcp, unspent: number): void {
    this.tokens = unspent;
  }
}
