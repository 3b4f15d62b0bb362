import { TtlCache } from './ttl-cache.js';

/**
 * Slows down key guessing: an address that fails `maxFailures` times
 * within `windowMs` is refused for `blockMs`, without a key lookup. Memory
 * is bounded by `maxAddresses` (the least recently seen are forgotten, so a
 * flood of addresses costs a bounded amount and at worst forgets some).
 */
export interface ThrottlePolicy {
  maxFailures: number;
  windowMs: number;
  blockMs: number;
  maxAddresses: number;
}

export const DEFAULT_THROTTLE_POLICY: ThrottlePolicy = { maxFailures: 5, windowMs: 60_000, blockMs: 60_000, maxAddresses: 10_000 };

interface FailureRecord {
  failures: number;
  windowStart: number;
  blockedUntil: number;
}

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

export class FailureThrottle {
  private readonly records: TtlCache<string, FailureRecord>;

  constructor(private readonly policy: ThrottlePolicy = DEFAULT_THROTTLE_POLICY) {
    this.records = new TtlCache(policy.maxAddresses);
  }

  check(address: string, now: number): ThrottleVerdict {
    const record = this.records.get(address, now);
    if (record && record.blockedUntil > now) return { allowed: false, retryAfterMs: record.blockedUntil - now };
    return { allowed: true };
  }

  recordFailure(address: string, now: number): void {
    const previous = this.records.get(address, now);
    const record =
      previous && now - previous.windowStart < this.policy.windowMs ? previous : { failures: 0, windowStart: now, blockedUntil: 0 };
    record.failures += 1;
    if (record.failures >= this.policy.maxFailures) {
      record.blockedUntil = now + this.policy.blockMs;
      // A new window starts with the block, so failures after it count afresh.
      record.failures = 0;
      record.windowStart = record.blockedUntil;
    }
    // Kept until both the window and any block are over.
    this.records.set(address, record, Math.max(record.windowStart + this.policy.windowMs, record.blockedUntil) - now, now);
  }

  /** A successful publish clears the address's record (a typo, then the right key). */
  recordSuccess(address: string): void {
    this.records.delete(address);
  }
}
