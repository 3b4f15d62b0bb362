/**
 * Where a stream's media time stands against this server's wall clock: for
 * each media packet, offset = arrival (Date.now()) − its timestamp. The
 * lowest offset over the last window is the arrival of the least-delayed
 * packet, so the encoder's and the network's jitter do not move it; the
 * highest is the most-delayed one.
 *
 * Two servers that see the same stream (an origin and an edge) compare their
 * lowest offsets: the difference is how long the media took from one to the
 * other (the hop's delay, queueing included), with no per-packet messages.
 * It assumes the two wall clocks agree (NTP; Amazon Time Sync on AWS keeps
 * them within a millisecond or so): their disagreement is the error.
 *
 * Windows rotate on arrival: the figures cover the last one to two windows.
 */
export class MediaClock {
  private windowStart = Number.NEGATIVE_INFINITY;
  private currentMin = Number.POSITIVE_INFINITY;
  private currentMax = Number.NEGATIVE_INFINITY;
  private previousMin = Number.POSITIVE_INFINITY;
  private previousMax = Number.NEGATIVE_INFINITY;

  constructor(private readonly windowMs = 2000) {}

  observe(timestamp: number, now: number): void {
    if (now - this.windowStart >= this.windowMs) {
      // A window with no media leaves nothing to carry over.
      const gap = now - this.windowStart >= 2 * this.windowMs;
      this.previousMin = gap ? Number.POSITIVE_INFINITY : this.currentMin;
      this.previousMax = gap ? Number.NEGATIVE_INFINITY : this.currentMax;
      this.currentMin = Number.POSITIVE_INFINITY;
      this.currentMax = Number.NEGATIVE_INFINITY;
      this.windowStart = now;
    }
    const offset = now - timestamp;
    if (offset < this.currentMin) this.currentMin = offset;
    if (offset > this.currentMax) this.currentMax = offset;
  }

  /** Lowest arrival offset (ms) over the recent windows; undefined before any media. */
  get minOffsetMs(): number | undefined {
    const min = Math.min(this.currentMin, this.previousMin);
    return Number.isFinite(min) ? min : undefined;
  }

  /** Highest arrival offset (ms) over the recent windows; undefined before any media. */
  get maxOffsetMs(): number | undefined {
    const max = Math.max(this.currentMax, this.previousMax);
    return Number.isFinite(max) ? max : undefined;
  }
}
