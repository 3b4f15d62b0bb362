import { Kcp, type KcpOptions } from 'kcp-ts';

export { seededRandom } from '@bridgecast/test-support/seeded-random.js';

/** Impairments of a simulated path; probabilities are per datagram. */
export interface Impairment {
  loss: number;
  duplicate: number;
  /** Probability that a datagram is held back by an extra `delayMs`, arriving after later ones. */
  reorder: number;
  delayMs: number;
  jitterMs: number;
  /**
   * Jitter keeps order: a datagram never arrives before the one sent ahead of
   * it in its direction (a FIFO whose delay varies, as a busy router's or a
   * radio link's), where plain jitter reorders datagrams sent within it.
   */
  inOrder?: boolean;
}

/** A router's bottleneck on the a -> b direction: a serializer at `kbit` behind a drop-tail queue of `queuePackets`. */
export interface Bottleneck {
  kbit: number;
  queuePackets: number;
}

export const CLEAN_PATH: Impairment = { loss: 0, duplicate: 0, reorder: 0, delayMs: 5, jitterMs: 0 };

interface InFlight {
  deliverAt: number;
  to: Kcp;
  datagram: Uint8Array;
}

/**
 * Two KCP ends joined by a simulated path with a virtual clock: no sockets,
 * no real time, so state-machine tests are fast and exactly reproducible.
 * `a` and `b` record what they sent in `sentByA` / `sentByB` when asked.
 */
export class VirtualLink {
  now: number;
  readonly a: Kcp;
  readonly b: Kcp;
  private inFlight: InFlight[] = [];
  /** Set to false to cut a direction entirely. */
  aToBOpen = true;
  bToAOpen = true;
  readonly sentByA: Uint8Array[] = [];
  readonly sentByB: Uint8Array[] = [];
  /** Set (or change mid-run) to put a bottleneck on a -> b; null: none. */
  bottleneck: Bottleneck | null = null;
  /**
   * Event-loop stalls at either end (a GC pause, a busy CPU): each ms, a
   * running end stops with `chance` for minMs..maxMs, neither reading nor
   * updating; what arrived meanwhile is read when it resumes, at that time
   * (as the Node endpoint stamps datagrams when it reads them). null: none.
   */
  stalls: { chance: number; minMs: number; maxMs: number } | null = null;
  private readonly stalledUntil = new Map<Kcp, number>();
  /** Datagrams the bottleneck's full queue dropped. */
  queueDrops = 0;
  /** When each datagram now in the bottleneck's queue leaves the serializer, oldest first. */
  private queueDepartures: number[] = [];
  /** Latest arrival scheduled per direction (for Impairment.inOrder). */
  private readonly lastArrival = new Map<Kcp, number>();

  /** How long a datagram entering the bottleneck now would wait before it is on the wire, ms. */
  get bottleneckDelayMs(): number {
    return Math.max(0, (this.queueDepartures.at(-1) ?? this.now) - this.now);
  }

  constructor(
    private readonly path: Impairment,
    private readonly random: () => number,
    options: { conv?: number; both?: KcpOptions; a?: KcpOptions; b?: KcpOptions; startTime?: number } = {},
  ) {
    this.now = options.startTime ?? 0;
    const conv = options.conv ?? 0x11223344;
    this.a = new Kcp(conv, (datagram) => this.transmit(datagram, this.b, this.aToBOpen, this.sentByA), { ...options.both, ...options.a });
    this.b = new Kcp(conv, (datagram) => this.transmit(datagram, this.a, this.bToAOpen, this.sentByB), { ...options.both, ...options.b });
  }

  private transmit(datagram: Uint8Array, to: Kcp, open: boolean, log: Uint8Array[]): void {
    const copy = datagram.slice();
    log.push(copy);
    if (!open || this.random() < this.path.loss) return;
    let queued = 0;
    if (to === this.b && this.bottleneck !== null) {
      while (this.queueDepartures.length > 0 && this.queueDepartures[0]! <= this.now) this.queueDepartures.shift();
      if (this.queueDepartures.length >= this.bottleneck.queuePackets) {
        this.queueDrops++;
        return;
      }
      const start = Math.max(this.now, this.queueDepartures.at(-1) ?? this.now);
      const departs = start + ((datagram.length + 28) * 8) / this.bottleneck.kbit; // + IPv4/UDP headers; kbit = bits per ms
      this.queueDepartures.push(departs);
      queued = departs - this.now;
    }
    const copies = this.random() < this.path.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay = queued + this.path.delayMs + this.random() * this.path.jitterMs;
      if (this.random() < this.path.reorder) delay += this.path.delayMs + 20;
      let deliverAt = this.now + delay;
      if (this.path.inOrder) {
        deliverAt = Math.max(deliverAt, this.lastArrival.get(to) ?? 0);
        this.lastArrival.set(to, deliverAt);
      }
      this.inFlight.push({ deliverAt, to, datagram: copy });
    }
  }

  /** Whether `end` is in an event-loop stall now. */
  stalled(end: Kcp): boolean {
    return (this.stalledUntil.get(end) ?? 0) > this.now;
  }

  /** Advances the clock by `ms` in 1 ms steps, delivering datagrams and updating both ends. */
  advance(ms: number, onStep?: () => void): void {
    for (let i = 0; i < ms; i++) {
      this.now++;
      if (this.stalls !== null) {
        for (const end of [this.a, this.b]) {
          if (!this.stalled(end) && this.random() < this.stalls.chance) {
            this.stalledUntil.set(end, this.now + this.stalls.minMs + this.random() * (this.stalls.maxMs - this.stalls.minMs));
          }
        }
      }
      const due = this.inFlight.filter((packet) => packet.deliverAt <= this.now && !this.stalled(packet.to));
      if (due.length > 0) {
        const delivered = new Set(due);
        this.inFlight = this.inFlight.filter((packet) => !delivered.has(packet));
        due.sort((x, y) => x.deliverAt - y.deliverAt);
        for (const packet of due) packet.to.input(packet.datagram, this.now);
      }
      if (!this.stalled(this.a)) this.a.update(this.now);
      if (!this.stalled(this.b)) this.b.update(this.now);
      onStep?.();
    }
  }
}

/** Reads every complete message waiting in `kcp`. */
export function drainMessages(kcp: Kcp): Uint8Array[] {
  const messages: Uint8Array[] = [];
  for (let size = kcp.peeksize(); size >= 0; size = kcp.peeksize()) {
    const message = new Uint8Array(size);
    kcp.recv(message);
    messages.push(message);
  }
  return messages;
}

/** Decodes the command bytes of every segment in a datagram. */
export function commandsIn(datagram: Uint8Array): number[] {
  const commands: number[] = [];
  for (let offset = 0; offset + 24 <= datagram.length; ) {
    commands.push(datagram[offset + 4]);
    const len = datagram[offset + 20] | (datagram[offset + 21] << 8) | (datagram[offset + 22] << 16);
    offset += 24 + len;
  }
  return commands;
}
