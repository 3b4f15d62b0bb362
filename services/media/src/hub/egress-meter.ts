import { RateMeter } from './rate-meter.js';

/** What viewers of one protocol were sent (bytes, bit rate) and what they missed by falling behind. */
export class EgressMeter extends RateMeter {
  /** Media packets skipped for viewers of this protocol that fell behind (see ViewerBackpressure). */
  droppedPackets = 0;
  /** Frames dropped because they waited in a KCP send queue past the live deadline (see LiveDeadline). */
  lateDroppedFrames = 0;
  /** Viewers of this protocol cut off because their backlog passed the hard bound. */
  disconnectedViewers = 0;
}

/** One EgressMeter per viewer protocol (rtmp, kcp, flv, ...), created on first use. */
export class EgressMeters {
  private readonly meters = new Map<string, EgressMeter>();

  meter(protocol: string): EgressMeter {
    let m = this.meters.get(protocol);
    if (!m) this.meters.set(protocol, (m = new EgressMeter()));
    return m;
  }

  entries(): IterableIterator<[string, EgressMeter]> {
    return this.meters.entries();
  }

  bitsPerSecond(): number {
    let sum = 0;
    for (const m of this.meters.values()) sum += m.bitsPerSecond();
    return sum;
  }
}
