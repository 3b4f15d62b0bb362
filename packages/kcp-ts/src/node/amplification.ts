/**
 * Anti-amplification for an unverified peer. A UDP source address can be
 * forged, so until the upper layer proves the peer really sits at that
 * address (its handshake round-tripped), we send it at most `factor` times
 * the bytes it sent us: a forged packet cannot turn us into a traffic
 * multiplier aimed at a victim. Datagrams over budget wait (up to
 * `maxHeldBytes`, then they are dropped and KCP retransmits them later)
 * until more bytes arrive or the peer is verified.
 */
export interface AmplificationCounters {
  amplificationHeld: number;
  amplificationDropped: number;
}

export class AmplificationGate {
  private bytesReceived = 0;
  private bytesSent = 0;
  private isVerified = false;
  private readonly held: Buffer[] = [];
  private heldBytes = 0;

  constructor(
    private readonly factor: number,
    private readonly maxHeldBytes: number,
    private readonly sendNow: (datagram: Buffer) => void,
    /** Where to count datagrams that had to wait, and those dropped because the wait list was full. */
    private readonly counters: AmplificationCounters,
  ) {}

  get verified(): boolean {
    return this.isVerified;
  }

  /** Sends `datagram` if the budget allows and nothing is waiting before it; otherwise holds or drops it. */
  send(datagram: Buffer): void {
    if (this.held.length === 0 && this.trySpend(datagram.length)) {
      this.sendNow(datagram);
    } else if (this.heldBytes + datagram.length <= this.maxHeldBytes) {
      this.held.push(datagram);
      this.heldBytes += datagram.length;
      this.counters.amplificationHeld++;
    } else {
      this.counters.amplificationDropped++;
    }
  }

  /** The peer sent us `bytes` more: spend the new budget on held datagrams. */
  received(bytes: number): void {
    this.bytesReceived += bytes;
    this.release();
  }

  /** The peer is verified: no limit from now on. */
  verify(): void {
    this.isVerified = true;
    this.release();
  }

  private trySpend(bytes: number): boolean {
    if (this.isVerified) return true;
    if (this.bytesSent + bytes > this.factor * this.bytesReceived) return false;
    this.bytesSent += bytes;
    return true;
  }

  private release(): void {
    let released = 0;
    while (released < this.held.length && this.trySpend(this.held[released].length)) {
      const datagram = this.held[released++];
      this.heldBytes -= datagram.length;
      this.sendNow(datagram);
    }
    // The wait list is at most maxHeldBytes / mtu long, so one splice per release is cheap.
    if (released > 0) this.held.splice(0, released);
  }
}
