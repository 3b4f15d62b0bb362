/**
 * Bit rate over a sliding window of one-second buckets: cheap to update on
 * every packet (one addition) and stable enough for dashboards and scaling.
 */
export class RateMeter {
  private readonly buckets: Float64Array;
  private currentSecond = 0;
  total = 0;

  constructor(private readonly windowSeconds = 5, private readonly now: () => number = Date.now) {
    this.buckets = new Float64Array(windowSeconds);
  }

  add(bytes: number): void {
    this.advance();
    this.buckets[this.currentSecond % this.windowSeconds]! += bytes;
    this.total += bytes;
  }

  /** Average bits per second over the completed seconds of the window. */
  bitsPerSecond(): number {
    this.advance();
    let sum = 0;
    for (let i = 1; i < this.windowSeconds; i++) {
      sum += this.buckets[(this.currentSecond - i + this.windowSeconds * 2) % this.windowSeconds]!;
    }
    return (sum * 8) / (this.windowSeconds - 1);
  }

  private advance(): void {
    const second = Math.floor(this.now() / 1000);
    if (this.currentSecond === 0) this.currentSecond = second;
    const elapsed = Math.min(second - this.currentSecond, this.windowSeconds);
    for (let i = 1; i <= elapsed; i++) this.buckets[(this.currentSecond + i) % this.windowSeconds] = 0;
    if (second > this.currentSecond) this.currentSecond = second;
  }
}
