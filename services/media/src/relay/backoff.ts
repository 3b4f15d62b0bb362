/**
 * Exponential backoff with jitter for reconnecting relays and bridges: the
 * delay doubles per failed attempt up to a ceiling, and each delay is
 * randomly shortened by up to `jitter` of itself so that many edges that
 * lost the same origin at the same moment do not reconnect in lockstep.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 500,
    private readonly maxMs = 15_000,
    private readonly jitter = 0.5,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt++;
    return Math.round(ceiling * (1 - this.jitter * this.random()));
  }

  /** After a success: the next failure starts from the initial delay again. */
  reset(): void {
    this.attempt = 0;
  }

  get failures(): number { return this.attempt; }
}
