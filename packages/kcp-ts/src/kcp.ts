/**
 * kcp-ts: KCP, the ARQ protocol of skywind3000/kcp (ikcp.c), in TypeScript.
 *
 * Self-contained (no dependencies, no Node-specific APIs: only Uint8Array), so it
 * can be published on its own and runs in browsers, Node and Electron alike.
 * The wire format and the state machine follow ikcp.c, so this implementation
 * talks to the C one:
 *
 *   0               4   5   6       8 (bytes, little-endian)
 *   +---------------+---+---+-------+
 *   |     conv      |cmd|frg|  wnd  |
 *   +---------------+---+---+-------+
 *   |      ts       |      sn       |
 *   +---------------+---------------+
 *   |      una      |      len      |
 *   +---------------+---------------+
 *   |         data (len bytes)      |
 *
 * Like ikcp, the object does no I/O and reads no clock: feed it datagrams with
 * `input`, give it the time in milliseconds with `update`, and it hands the
 * datagrams it wants sent to the `output` callback. Sequence numbers and
 * timestamps are unsigned 32-bit and wrap; every comparison uses the signed
 * 32-bit difference, as ikcp does.
 *
 * The data structures differ from ikcp's linked lists where an index does
 * better: the send buffer is a ring indexed by sequence number (an ack is O(1)),
 * the receive buffer is an array of slots indexed by sequence number modulo a
 * power of two, and the queues are rings, so the hot path never shifts or
 * copies arrays.
 */
import { LiveRateController } from './congestion.js';
import { TokenBucketPacer } from './pacing.js';
import { seqDiff } from './seq.js';

export { seqDiff };

/** Bytes of the segment header. */
export const KCP_OVERHEAD = 24;

/** Segment commands. */
export const KcpCommand = {
  /** Data. */
  Push: 81,
  /** Acknowledgement of one data segment. */
  Ack: 82,
  /** Window probe: "tell me your window". */
  WindowAsk: 83,
  /** Window size announcement. */
  WindowTell: 84,
} as const;

/** Negative results of `input`. */
export const KcpInputError = {
  /** Shorter than a header, or a segment of another conversation. */
  Malformed: -1,
  /** A segment claims more data than the datagram holds. */
  BadLength: -2,
  /** Unknown command. */
  BadCommand: -3,
} as const;

/** Negative results of `recv`. */
export const KcpRecvError = {
  /** Nothing to receive. */
  Empty: -1,
  /** The next message has not fully arrived. */
  Incomplete: -2,
  /** The target buffer is smaller than the next message (see `peeksize`). */
  BufferTooSmall: -3,
} as const;

/** Negative results of `send`. */
export const KcpSendError = {
  /** The message needs more than MAX_FRAGMENTS segments. */
  TooLarge: -2,
} as const;

const RTO_NODELAY_MIN = 30;
const RTO_MIN = 100;
const RTO_DEFAULT = 200;
const RTO_MAX = 60_000;
const ASK_SEND = 1;
const ASK_TELL = 2;
const WND_SND_DEFAULT = 32;
/** Also the smallest receive window: a receiver must hold every fragment of a message at once. */
const WND_RCV_MIN = 128;
const MTU_DEFAULT = 1400;
const INTERVAL_DEFAULT = 100;
const DEADLINK_DEFAULT = 20;
const THRESH_INIT = 2;
const THRESH_MIN = 2;
const PROBE_INIT = 7000;
const PROBE_LIMIT = 120_000;
const FASTACK_LIMIT = 5;

/**
 * Fragments a message may have. The fragment index is a byte, but ikcp stops
 * below its default receive window (128) because a receiver can only
 * reassemble a message whose fragments all fit in its window at once.
 */
export const MAX_FRAGMENTS = WND_RCV_MIN - 1;

/** The 24-byte segment header. */
export interface KcpHeader {
  conv: number;
  cmd: number;
  frg: number;
  wnd: number;
  ts: number;
  sn: number;
  una: number;
  len: number;
}

function readU32(source: Uint8Array, offset: number): number {
  return (source[offset] | (source[offset + 1] << 8) | (source[offset + 2] << 16) | (source[offset + 3] << 24)) >>> 0;
}

function writeU32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value;
  target[offset + 1] = value >>> 8;
  target[offset + 2] = value >>> 16;
  target[offset + 3] = value >>> 24;
}

/** Writes `header` at `offset`; returns the offset just past it. */
export function encodeHeader(target: Uint8Array, offset: number, header: KcpHeader): number {
  writeU32(target, offset, header.conv);
  target[offset + 4] = header.cmd;
  target[offset + 5] = header.frg;
  target[offset + 6] = header.wnd;
  target[offset + 7] = header.wnd >>> 8;
  writeU32(target, offset + 8, header.ts);
  writeU32(target, offset + 12, header.sn);
  writeU32(target, offset + 16, header.una);
  writeU32(target, offset + 20, header.len);
  return offset + KCP_OVERHEAD;
}

/** Reads the header at `offset` (the caller checks that 24 bytes are there). */
export function decodeHeader(source: Uint8Array, offset = 0): KcpHeader {
  return {
    conv: readU32(source, offset),
    cmd: source[offset + 4],
    frg: source[offset + 5],
    wnd: source[offset + 6] | (source[offset + 7] << 8),
    ts: readU32(source, offset + 8),
    sn: readU32(source, offset + 12),
    una: readU32(source, offset + 16),
    len: readU32(source, offset + 20),
  };
}

function isCommand(cmd: number): boolean {
  return cmd >= KcpCommand.Push && cmd <= KcpCommand.WindowTell;
}

/** Why `inspectDatagram` rejected a datagram. */
export type DatagramFault = 'too-short' | 'bad-command' | 'bad-length' | 'mixed-conv';

export type DatagramInspection =
  | { ok: true; conv: number; firstCmd: number; firstSn: number; firstUna: number }
  | { ok: false; fault: DatagramFault };

/**
 * Checks that a datagram is a well-formed sequence of KCP segments of one
 * conversation, without touching any state: what a server needs to
 * demultiplex datagrams and to refuse junk before it creates a session.
 */
export function inspectDatagram(datagram: Uint8Array): DatagramInspection {
  if (datagram.length < KCP_OVERHEAD) return { ok: false, fault: 'too-short' };
  const conv = readU32(datagram, 0);
  let offset = 0;
  while (offset < datagram.length) {
    if (datagram.length - offset < KCP_OVERHEAD) return { ok: false, fault: 'too-short' };
    if (readU32(datagram, offset) !== conv) return { ok: false, fault: 'mixed-conv' };
    if (!isCommand(datagram[offset + 4])) return { ok: false, fault: 'bad-command' };
    const len = readU32(datagram, offset + 20);
    if (len > datagram.length - offset - KCP_OVERHEAD) return { ok: false, fault: 'bad-length' };
    offset += KCP_OVERHEAD + len;
  }
  return { ok: true, conv, firstCmd: datagram[4], firstSn: readU32(datagram, 12), firstUna: readU32(datagram, 16) };
}

/** Counters for metrics; they only ever grow. */
export interface KcpStats {
  /** Data segments sent for the first time. */
  segmentsSent: number;
  /** Data segments sent again because their retransmission timer expired. */
  timeoutRetransmits: number;
  /** Data segments sent again because later segments were acknowledged first. */
  fastRetransmits: number;
  /**
   * Data segments sent more than once, each counted once however many copies
   * it took (ikcp resends a lost segment on every few later acks until its
   * own ack comes back): per segmentsSent, the share that needed a repair.
   */
  segmentsRepaired: number;
  /** Data segments accepted into the receive buffer. */
  segmentsReceived: number;
  /** Data segments received again (already delivered or buffered). */
  duplicateSegments: number;
  /**
   * Data segments accepted after a later one had arrived: their first copy
   * was lost (this one is a retransmission, or rebuilt by FEC) or overtaken.
   * Per segmentsReceived it is the receiver's estimate of the path's loss.
   */
  segmentsFilledGap: number;
  /** Data segments beyond the receive window, dropped. */
  outOfWindowSegments: number;
  /** Datagrams handed to `output`, and their bytes. */
  datagramsSent: number;
  bytesSent: number;
  /** Datagrams given to `input`, and their bytes. */
  datagramsReceived: number;
  bytesReceived: number;
  /** Datagrams `input` rejected (negative result). */
  invalidDatagrams: number;
}

/** All counters at zero (also handy for totals over many conversations). */
export function emptyKcpStats(): KcpStats {
  return {
    segmentsSent: 0,
    timeoutRetransmits: 0,
    fastRetransmits: 0,
    segmentsRepaired: 0,
    segmentsReceived: 0,
    duplicateSegments: 0,
    segmentsFilledGap: 0,
    outOfWindowSegments: 0,
    datagramsSent: 0,
    bytesSent: 0,
    datagramsReceived: 0,
    bytesReceived: 0,
    invalidDatagrams: 0,
  };
}

/**
 * Called with each datagram to send. `datagram` is a view into a buffer the
 * KCP object reuses: send or copy it before returning.
 */
export type KcpOutput = (datagram: Uint8Array, kcp: Kcp) => void;

/**
 * Hooks into a flush's data loop, the way ikcp's IKCPOPS table lets pacing
 * and congestion control plug in. The loop visits due segments oldest
 * first (retransmissions before new data) and stops at the first that does
 * not fit the budget; it stays due for the next flush. Acks and window
 * probes are never held. Called once per flush that sends data, with no
 * allocation: keep implementations allocation-free too.
 */
export interface KcpSendOps {
  /** Bytes (KCP headers included) this flush may send; Infinity: whatever the windows allow. */
  sendBudget(kcp: Kcp, current: number): number;
  /** After the loop: what is left of the budget. */
  sent(kcp: Kcp, unspent: number): void;
  /**
   * Optional: a transmitted data segment was acknowledged (by its own ack or
   * by a later una). `bytes` counts its header; `deliveredAtSend` and
   * `deliveredTimeAtSend` are `kcp.delivered` and `kcp.deliveredTime` when
   * it was last transmitted, so `(kcp.delivered - deliveredAtSend) /
   * (current - deliveredTimeAtSend)` is a delivery-rate sample measured ack
   * to ack, as TCP's rate sampling (what BBR measures). An ack echoes the
   * timestamp of the transmission it answers, so unlike TCP (Karn) there
   * is no ambiguity: `rtt` is that transmission's round trip and
   * `transmission` its number (1: the first arrived; > 1: earlier ones were
   * lost). Both are -1 when only a later una acknowledged it.
   * Called after `kcp.delivered` counted this segment.
   */
  acked?(kcp: Kcp, bytes: number, deliveredAtSend: number, deliveredTimeAtSend: number, rtt: number, transmission: number, current: number): void;
  /**
   * Optional: a floor for the retransmission timeout of this flush's first
   * transmissions, ms. ikcp's RTO (srtt + 4 x rttvar, 30 ms minimum with
   * nodelay) fires on segments that are merely queued once a bottleneck's
   * queue grows faster than the smoothed RTT follows; each such spurious
   * copy adds to the queue. A controller that knows how long the path has
   * been taking can say so here.
   */
  minRto?(kcp: Kcp): number;
  /**
   * Optional: whether the path has room for `share` more bytes than this
   * session sends (FEC parity: 0.3 for 10 data + 3 parity). Bytes sent
   * outside the pacing, on a link with no room for them, crowd out the
   * media. Without this hook: always.
   */
  hasRoomFor?(kcp: Kcp, share: number): boolean;
}

export type KcpCongestionControl = 'live' | 'none';

export interface KcpOptions {
  /** Largest datagram, header included (default 1400). */
  mtu?: number;
  /** Send window in segments (default 32). */
  sndWnd?: number;
  /** Receive window in segments (default 128, never less). */
  rcvWnd?: number;
  /** 0: normal; 1: no-delay (min RTO 30 ms, RTO grows by half on timeout); 2: as 1, growth by half the current estimate. */
  nodelay?: number;
  /** Milliseconds between flushes driven by `update` (10..5000, default 100). */
  interval?: number;
  /** Fast retransmit after this many acks of later segments (0: off). */
  resend?: number;
  /** true: no congestion window, only the send and remote windows limit sending. */
  nc?: boolean;
  /** Stream mode: messages have no boundaries and small sends are merged into full segments. */
  stream?: boolean;
  /** A segment sent this many times marks the link dead (default 20). */
  deadLink?: number;
  /**
   * Pacing: at most this many kbit/s of segments (headers included, first
   * sends and retransmissions alike; acks are never held), by installing a
   * TokenBucketPacer as `sendOps`. 0 or unset: as ikcp, everything the
   * windows allow goes out at each flush. Not part of ikcp; only the sender
   * changes, so peers need nothing.
   */
  maxKbit?: number;
  /**
   * 'live': a LiveRateController (delivery-rate and min-RTT based pacing,
   * see congestion.ts) as the send hooks (DEFAULT_KCP_TUNING has it);
   * 'none' (default of a bare Kcp, as ikcp): no pacing. maxKbit and sendOps take precedence. Only the sender
   * changes, so peers (ikcp.c included) need nothing.
   */
  congestionControl?: KcpCongestionControl;
  /** Send hooks (pacing, congestion control); takes precedence over maxKbit and congestionControl. See KcpSendOps. */
  sendOps?: KcpSendOps | null;
  /**
   * First sequence number to send and to expect (default 0, as ikcp; both
   * ends must agree). Meant for tests of sequence wrap-around.
   */
  initialSendSn?: number;
  initialRecvSn?: number;
}

class Segment implements KcpHeader {
  conv = 0;
  cmd = 0;
  frg = 0;
  wnd = 0;
  ts = 0;
  sn = 0;
  una = 0;
  /** Bytes of `data` in use (stream mode fills segments up to the MSS). */
  len = 0;
  /** When to retransmit. */
  resendts = 0;
  rto = 0;
  /** Acks of later segments seen since the last transmission. */
  fastack = 0;
  /** Transmissions so far. */
  xmit = 0;
  /** `Kcp.delivered` at the last transmission (for delivery-rate samples). */
  deliveredAtSend = 0;
  deliveredTimeAtSend = 0;
  /** `ts` of the first transmission: an ack echoing an older ts than the last answers an earlier one. */
  firstTs = 0;

  constructor(public data: Uint8Array) {}
}

/** A growable FIFO ring; `at(i)` indexes from the oldest item. */
class Ring<T> {
  private items: (T | undefined)[];
  private head = 0;
  private mask: number;
  length = 0;

  constructor(capacity = 16) {
    this.items = new Array<T | undefined>(capacity);
    this.mask = capacity - 1;
  }

  push(item: T): void {
    if (this.length === this.items.length) this.grow();
    this.items[(this.head + this.length) & this.mask] = item;
    this.length++;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return item;
  }

  at(index: number): T {
    return this.items[(this.head + index) & this.mask] as T;
  }

  set(index: number, item: T): void {
    this.items[(this.head + index) & this.mask] = item;
  }

  last(): T | undefined {
    return this.length === 0 ? undefined : this.at(this.length - 1);
  }

  private grow(): void {
    const grown = new Array<T | undefined>(this.items.length * 2);
    for (let i = 0; i < this.length; i++) grown[i] = this.at(i);
    this.items = grown;
    this.head = 0;
    this.mask = grown.length - 1;
  }
}

function nextPowerOfTwo(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

function clamp(lower: number, value: number, upper: number): number {
  return Math.min(Math.max(lower, value), upper);
}

/** One KCP conversation: the state machine of ikcp's `ikcpcb`. */
export class Kcp {
  readonly conv: number;
  /** Stream mode (see KcpOptions.stream); may be switched before sending. */
  stream: boolean;
  /** Transmissions of one segment after which `state` becomes -1. */
  deadLink: number;
  /** Fast retransmits stop once a segment has been sent this many times (0: no limit). */
  fastLimit = FASTACK_LIMIT;
  readonly stats: KcpStats = emptyKcpStats();

  private readonly output: KcpOutput;
  private mtuBytes = MTU_DEFAULT;
  private mssBytes = MTU_DEFAULT - KCP_OVERHEAD;
  private buffer: Uint8Array;
  private deadState = 0;

  private sndUna: number;
  private sndNxt: number;
  private rcvNxt: number;
  /** One past the highest sn accepted so far (for segmentsFilledGap). */
  private rcvHighest: number;
  private sndWndSegments = WND_SND_DEFAULT;
  private rcvWndSegments = WND_RCV_MIN;
  private rmtWnd = WND_RCV_MIN;
  private cwndSegments = 0;
  private incr = 0;
  private ssthresh = THRESH_INIT;
  private probe = 0;
  private tsProbe = 0;
  private probeWait = 0;

  private rxSrtt = 0;
  private rxRttval = 0;
  private rxRto = RTO_DEFAULT;
  private rxMinrto = RTO_MIN;
  private lastRtt = 0;

  private current = 0;
  private intervalMs = INTERVAL_DEFAULT;
  private tsFlush = INTERVAL_DEFAULT;
  private updated = false;
  private nodelayMode = 0;
  private fastresend = 0;
  private nocwnd = false;
  /** Send hooks (see KcpSendOps); null: ikcp's behaviour, the windows alone limit a flush. */
  private sendOps: KcpSendOps | null = null;

  /** Messages waiting for the send window. */
  private readonly sndQueue = new Ring<Segment>();
  /** Sent, unacknowledged segments; slot i holds sn `sndNxt - length + i`, null once acked. */
  private readonly sndBuf = new Ring<Segment | null>();
  private nsndBuf = 0;
  /** Segments of sndBuf not transmitted yet (held by the send hooks' budget). */
  private unsentInBuf = 0;
  /** In-order segments ready for `recv`. */
  private readonly rcvQueue = new Ring<Segment>();
  /** Out-of-order segments, in slot `sn & rcvMask`; every buffered sn is within the window from rcvNxt. */
  private rcvSlots: (Segment | undefined)[];
  private rcvMask: number;
  private nrcvBuf = 0;
  /** Bytes (headers included) of data segments acknowledged so far. */
  private deliveredBytes = 0;
  /** `current` when deliveredBytes last grew (or of the first send, before any ack). */
  private deliveredAt = 0;
  /** Bytes (headers included) of transmitted, unacknowledged data segments. */
  private inflight = 0;
  /** Pending acks as (sn, ts) pairs. */
  private ackList = new Uint32Array(16);
  private ackCount = 0;

  constructor(conv: number, output: KcpOutput, options: KcpOptions = {}) {
    this.conv = conv >>> 0;
    this.output = output;
    this.stream = options.stream ?? false;
    this.deadLink = options.deadLink ?? DEADLINK_DEFAULT;
    this.sndUna = this.sndNxt = (options.initialSendSn ?? 0) >>> 0;
    this.rcvNxt = (options.initialRecvSn ?? 0) >>> 0;
    this.rcvHighest = this.rcvNxt;
    this.buffer = new Uint8Array((MTU_DEFAULT + KCP_OVERHEAD) * 3);
    this.rcvSlots = new Array<Segment | undefined>(nextPowerOfTwo(WND_RCV_MIN));
    this.rcvMask = this.rcvSlots.length - 1;
    if (options.mtu !== undefined && this.setmtu(options.mtu) < 0) throw new RangeError(`invalid KCP mtu ${options.mtu}`);
    this.wndsize(options.sndWnd ?? 0, options.rcvWnd ?? 0);
    this.nodelay(options.nodelay ?? -1, options.interval ?? -1, options.resend ?? -1, options.nc === undefined ? -1 : Number(options.nc));
    if (options.sendOps !== undefined) this.setSendOps(options.sendOps);
    else if ((options.maxKbit ?? 0) > 0) this.setMaxRate(options.maxKbit as number);
    else if (options.congestionControl === 'live') this.setSendOps(new LiveRateController());
  }

  /**
   * Caps the send rate at `kbit` kbit/s (0: no cap): installs a
   * TokenBucketPacer as the send hooks (replacing any others), or removes them.
   */
  setMaxRate(kbit: number): void {
    this.sendOps = kbit > 0 ? new TokenBucketPacer(kbit) : null;
  }

  /**
   * Installs send hooks (null: none, ikcp's behaviour). Like ikcp's IKCPOPS
   * table, this is how pacing and congestion control plug in without
   * options baked into flush.
   */
  setSendOps(ops: KcpSendOps | null): void {
    this.sendOps = ops;
  }

  /** The installed send hooks (a LiveRateController exposes its estimates there). */
  get sendHooks(): KcpSendOps | null {
    return this.sendOps;
  }

  get mtu(): number {
    return this.mtuBytes;
  }
  /** Largest payload of one segment (mtu - 24). */
  get mss(): number {
    return this.mssBytes;
  }
  /** 0 while the link is alive, -1 once a segment was sent `deadLink` times (ikcp's `state`). */
  get state(): number {
    return this.deadState;
  }
  get sndWnd(): number {
    return this.sndWndSegments;
  }
  get rcvWnd(): number {
    return this.rcvWndSegments;
  }
  /** The window the peer last announced. */
  get remoteWnd(): number {
    return this.rmtWnd;
  }
  /** Congestion window (ignored when nc is on). */
  get cwnd(): number {
    return this.cwndSegments;
  }
  /** Smoothed round-trip time in ms (0 until the first ack). */
  get srtt(): number {
    return this.rxSrtt;
  }
  get rttvar(): number {
    return this.rxRttval;
  }
  /** Most recent round-trip sample in ms. */
  get rtt(): number {
    return this.lastRtt;
  }
  /** Current retransmission timeout in ms. */
  get rto(): number {
    return this.rxRto;
  }
  get interval(): number {
    return this.intervalMs;
  }
  /** Bytes (headers included) of data segments acknowledged so far; only grows. */
  get delivered(): number {
    return this.deliveredBytes;
  }
  /** When `delivered` last grew (ms, the clock of `update`). */
  get deliveredTime(): number {
    return this.deliveredAt;
  }
  /** Bytes (headers included) of data segments sent and not yet acknowledged (lost ones count until acked). */
  get inflightBytes(): number {
    return this.inflight;
  }
  /** Current time as last given to `update`. */
  get now(): number {
    return this.current;
  }
  /** Oldest unacknowledged sequence number. */
  get sendUna(): number {
    return this.sndUna;
  }
  /** Next sequence number to send. */
  get sendNext(): number {
    return this.sndNxt;
  }
  /** Next sequence number expected. */
  get receiveNext(): number {
    return this.rcvNxt;
  }

  /**
   * Queues a message (or, in stream mode, bytes). Returns 0, or
   * KcpSendError.TooLarge if it needs more than MAX_FRAGMENTS segments.
   */
  send(data: Uint8Array): number {
    const mss = this.mssBytes;
    let offset = 0;
    let remaining = data.length;
    if (this.stream) {
      const last = this.sndQueue.last();
      if (last !== undefined && last.len < mss) {
        const extend = Math.min(remaining, mss - last.len);
        if (last.data.length < last.len + extend) {
          const grown = new Uint8Array(mss);
          grown.set(last.data.subarray(0, last.len));
          last.data = grown;
        }
        last.data.set(data.subarray(0, extend), last.len);
        last.len += extend;
        offset = extend;
        remaining -= extend;
      }
      if (remaining <= 0) return 0;
    }
    const count = remaining <= mss ? 1 : Math.ceil(remaining / mss);
    if (count > MAX_FRAGMENTS) return KcpSendError.TooLarge;
    for (let i = 0; i < count; i++) {
      const size = Math.min(remaining, mss);
      // In stream mode a segment may still grow, so it gets room for a full MSS.
      const segment = new Segment(new Uint8Array(this.stream ? mss : size));
      segment.data.set(data.subarray(offset, offset + size));
      segment.len = size;
      segment.frg = this.stream ? 0 : count - i - 1;
      this.sndQueue.push(segment);
      offset += size;
      remaining -= size;
    }
    return 0;
  }

  /**
   * Size of the next complete message (in stream mode: of the next segment),
   * or -1 when none is ready. A message is complete once the queue holds its
   * last fragment (frg 0); fragment counts come from the peer, so nothing
   * here trusts them further than what the queue really holds.
   */
  peeksize(): number {
    const queue = this.rcvQueue;
    if (queue.length === 0) return -1;
    const first = queue.at(0);
    // A stream has no message boundaries: a peer's frg means nothing there.
    if (this.stream || first.frg === 0) return first.len;
    if (queue.length < first.frg + 1) return -1;
    let length = 0;
    for (let i = 0; i < queue.length; i++) {
      const segment = queue.at(i);
      length += segment.len;
      if (segment.frg === 0) return length;
    }
    return -1;
  }

  /**
   * Moves the next message into `target`. Returns its length, or a negative
   * KcpRecvError.
   */
  recv(target: Uint8Array): number {
    const queue = this.rcvQueue;
    if (queue.length === 0) return KcpRecvError.Empty;
    const size = this.peeksize();
    if (size < 0) return KcpRecvError.Incomplete;
    if (size > target.length) return KcpRecvError.BufferTooSmall;
    const windowWasFull = queue.length >= this.rcvWndSegments;
    let length = 0;
    // peeksize saw the message's last segment in the queue, so this never shifts past its end.
    for (;;) {
      const segment = queue.shift() as Segment;
      target.set(segment.len === segment.data.length ? segment.data : segment.data.subarray(0, segment.len), length);
      length += segment.len;
      if (this.stream || segment.frg === 0) break;
    }
    this.moveReceivedInOrder();
    // The window reopened: tell the peer at the next flush rather than waiting for its probe.
    if (windowWasFull && queue.length < this.rcvWndSegments) this.probe |= ASK_TELL;
    return length;
  }

  /**
   * Feeds one received datagram. Returns 0, or a negative KcpInputError.
   * `current` (optional, the clock of `update`) is the time of arrival: RTT
   * samples are measured against it instead of the last `update`, which a
   * busy event loop may have run long before it reads the socket (kcp-go
   * reads its clock in input too). Without it, the last `update`'s time
   * is used, as ikcp does. The clock only moves forward; no flush happens.
   */
  input(data: Uint8Array, current?: number): number {
    if (current !== undefined && this.updated && seqDiff(current >>> 0, this.current) > 0) this.current = current >>> 0;
    this.stats.datagramsReceived++;
    this.stats.bytesReceived += data.length;
    const result = this.parseDatagram(data);
    if (result < 0) this.stats.invalidDatagrams++;
    return result;
  }

  private parseDatagram(data: Uint8Array): number {
    const prevUna = this.sndUna;
    let sawAck = false;
    let maxAck = 0;
    if (data.length < KCP_OVERHEAD) return KcpInputError.Malformed;
    let offset = 0;
    while (data.length - offset >= KCP_OVERHEAD) {
      if (readU32(data, offset) !== this.conv) return KcpInputError.Malformed;
      const cmd = data[offset + 4];
      const frg = data[offset + 5];
      const wnd = data[offset + 6] | (data[offset + 7] << 8);
      const ts = readU32(data, offset + 8);
      const sn = readU32(data, offset + 12);
      const una = readU32(data, offset + 16);
      const len = readU32(data, offset + 20);
      offset += KCP_OVERHEAD;
      if (len > data.length - offset) return KcpInputError.BadLength;
      if (!isCommand(cmd)) return KcpInputError.BadCommand;

      this.rmtWnd = wnd;
      if (cmd === KcpCommand.Ack) {
        const rtt = seqDiff(this.current, ts);
        if (rtt >= 0) this.updateRtt(rtt);
        // The ack before its una (ikcp does the reverse; the resulting state is the same): the
        // una usually covers the acked sn, and only the ack carries the echo the send hooks need.
        this.parseAck(sn, ts);
        this.parseUna(una);
        if (!sawAck || seqDiff(sn, maxAck) > 0) maxAck = sn;
        sawAck = true;
      } else if (cmd === KcpCommand.Push) {
        this.parseUna(una);
        this.acceptPush(data, offset, frg, wnd, ts, sn, una, len);
      } else {
        this.parseUna(una);
        if (cmd === KcpCommand.WindowAsk) this.probe |= ASK_TELL;
      }
      // WindowTell carries nothing beyond the wnd field read above.
      offset += len;
    }
    if (sawAck) this.countFastAcks(maxAck);
    if (seqDiff(this.sndUna, prevUna) > 0) this.growCongestionWindow();
    return 0;
  }

  private acceptPush(data: Uint8Array, offset: number, frg: number, wnd: number, ts: number, sn: number, una: number, len: number): void {
    if (seqDiff(sn, this.rcvNxt + this.rcvWndSegments) >= 0) {
      this.stats.outOfWindowSegments++;
      return;
    }
    this.pushAck(sn, ts);
    if (seqDiff(sn, this.rcvNxt) < 0 || this.rcvSlots[sn & this.rcvMask] !== undefined) {
      this.stats.duplicateSegments++;
      return;
    }
    const segment = new Segment(data.slice(offset, offset + len));
    segment.conv = this.conv;
    segment.cmd = KcpCommand.Push;
    segment.frg = frg;
    segment.wnd = wnd;
    segment.ts = ts;
    segment.sn = sn;
    segment.una = una;
    segment.len = len;
    this.rcvSlots[sn & this.rcvMask] = segment;
    this.nrcvBuf++;
    this.stats.segmentsReceived++;
    if (seqDiff(sn, this.rcvHighest) < 0) this.stats.segmentsFilledGap++;
    else this.rcvHighest = (sn + 1) >>> 0;
    this.moveReceivedInOrder();
  }

  /** Moves the in-order run starting at rcvNxt from the receive buffer to the receive queue. */
  private moveReceivedInOrder(): void {
    while (this.nrcvBuf > 0 && this.rcvQueue.length < this.rcvWndSegments) {
      const slot = this.rcvNxt & this.rcvMask;
      const segment = this.rcvSlots[slot];
      if (segment === undefined) break;
      this.rcvSlots[slot] = undefined;
      this.nrcvBuf--;
      this.rcvQueue.push(segment);
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
    }
  }

  private pushAck(sn: number, ts: number): void {
    if (this.ackCount * 2 === this.ackList.length) {
      const grown = new Uint32Array(this.ackList.length * 2);
      grown.set(this.ackList);
      this.ackList = grown;
    }
    this.ackList[this.ackCount * 2] = sn;
    this.ackList[this.ackCount * 2 + 1] = ts;
    this.ackCount++;
  }

  /** RTT estimation and RTO, as ikcp (Jacobson/Karels with integer arithmetic). */
  private updateRtt(rtt: number): void {
    this.lastRtt = rtt;
    if (this.rxSrtt === 0) {
      this.rxSrtt = rtt;
      this.rxRttval = Math.floor(rtt / 2);
    } else {
      const delta = Math.abs(rtt - this.rxSrtt);
      this.rxRttval = Math.floor((3 * this.rxRttval + delta) / 4);
      this.rxSrtt = Math.max(1, Math.floor((7 * this.rxSrtt + rtt) / 8));
    }
    const rto = this.rxSrtt + Math.max(this.intervalMs, 4 * this.rxRttval);
    this.rxRto = clamp(this.rxMinrto, rto, RTO_MAX);
  }

  /** sn of the first slot of the send buffer. */
  private get sndBufFirstSn(): number {
    return (this.sndNxt - this.sndBuf.length) >>> 0;
  }

  /** Drops acknowledged slots from the front of the send buffer and advances sndUna. */
  private shrinkSendBuffer(): void {
    while (this.sndBuf.length > 0 && this.sndBuf.at(0) === null) this.sndBuf.shift();
    this.sndUna = this.sndBufFirstSn;
  }

  /** Everything before `una` has arrived. */
  private parseUna(una: number): void {
    while (this.sndBuf.length > 0 && seqDiff(una, this.sndBufFirstSn) > 0) {
      const segment = this.sndBuf.shift();
      if (segment !== null && segment !== undefined) {
        this.nsndBuf--;
        this.countDelivered(segment, -1);
      }
    }
    this.shrinkSendBuffer();
  }

  private parseAck(sn: number, ts: number): void {
    if (seqDiff(sn, this.sndUna) < 0 || seqDiff(sn, this.sndNxt) >= 0) return;
    const index = seqDiff(sn, this.sndBufFirstSn);
    const segment = this.sndBuf.at(index);
    if (segment !== null) {
      this.sndBuf.set(index, null);
      this.nsndBuf--;
      this.countDelivered(segment, ts);
    }
    this.shrinkSendBuffer();
  }

  /** An acknowledged segment leaves the flight; the send hooks hear of it. */
  private countDelivered(segment: Segment, echoedTs: number): void {
    if (segment.xmit === 0) {
      this.unsentInBuf--; // acknowledged before we sent it: a confused or hostile peer
      return;
    }
    const bytes = KCP_OVERHEAD + segment.len;
    this.inflight -= bytes;
    this.deliveredBytes += bytes;
    this.deliveredAt = this.current;
    if (this.sendOps?.acked === undefined) return;
    let rtt = -1;
    let transmission = -1;
    if (echoedTs >= 0) {
      rtt = seqDiff(this.current, echoedTs);
      // Retransmissions are at least rtomin apart, so a ts older than the last one means an earlier copy arrived.
      transmission = echoedTs === segment.ts ? segment.xmit : echoedTs === segment.firstTs ? 1 : 2;
    }
    this.sendOps.acked(this, bytes, segment.deliveredAtSend, segment.deliveredTimeAtSend, rtt, transmission, this.current);
  }

  /** Every unacked segment older than the newest ack was skipped once more. */
  private countFastAcks(maxAck: number): void {
    if (seqDiff(maxAck, this.sndUna) < 0 || seqDiff(maxAck, this.sndNxt) >= 0) return;
    const end = seqDiff(maxAck, this.sndBufFirstSn);
    for (let i = 0; i < end; i++) {
      const segment = this.sndBuf.at(i);
      if (segment !== null) segment.fastack++;
    }
  }

  /** Slow start, then congestion avoidance, as ikcp (only matters when nc is off). */
  private growCongestionWindow(): void {
    if (this.cwndSegments >= this.rmtWnd) return;
    const mss = this.mssBytes;
    if (this.cwndSegments < this.ssthresh) {
      this.cwndSegments++;
      this.incr += mss;
    } else {
      if (this.incr < mss) this.incr = mss;
      this.incr += Math.floor((mss * mss) / this.incr) + Math.floor(mss / 16);
      if ((this.cwndSegments + 1) * mss <= this.incr) this.cwndSegments = Math.floor((this.incr + mss - 1) / mss);
    }
    if (this.cwndSegments > this.rmtWnd) {
      this.cwndSegments = this.rmtWnd;
      this.incr = this.rmtWnd * mss;
    }
  }

  /**
   * Fills `target` with header-only window-tell segments (no data: a peer,
   * ikcp.c included, reads only their window and una) and returns the bytes
   * written. A client sends them so that a server limiting what it sends to
   * an unverified address (anti-amplification) can afford its
   * retransmissions; see KcpStream's padding.
   */
  writePadding(target: Uint8Array): number {
    const wnd = this.wndUnused();
    let offset = 0;
    while (offset + KCP_OVERHEAD <= target.length) offset = this.writeControl(offset, KcpCommand.WindowTell, 0, 0, wnd, target);
    return offset;
  }

  private wndUnused(): number {
    return Math.max(0, this.rcvWndSegments - this.rcvQueue.length);
  }

  /** Writes a header-only segment (ack, probe or padding) at `offset` of `buffer` (the flush buffer unless given). */
  private writeControl(offset: number, cmd: number, sn: number, ts: number, wnd: number, buffer = this.buffer): number {
    writeU32(buffer, offset, this.conv);
    buffer[offset + 4] = cmd;
    buffer[offset + 5] = 0;
    buffer[offset + 6] = wnd;
    buffer[offset + 7] = wnd >>> 8;
    writeU32(buffer, offset + 8, ts);
    writeU32(buffer, offset + 12, sn);
    writeU32(buffer, offset + 16, this.rcvNxt);
    writeU32(buffer, offset + 20, 0);
    return offset + KCP_OVERHEAD;
  }

  /** Sends the first `size` bytes of the buffer if `need` more would not fit; returns the new write offset. */
  private makeRoom(size: number, need: number): number {
    if (size + need <= this.mtuBytes) return size;
    this.emit(size);
    return 0;
  }

  private emit(size: number): void {
    this.stats.datagramsSent++;
    this.stats.bytesSent += size;
    this.output(this.buffer.subarray(0, size), this);
  }

  /**
   * Sends pending acks, probes, new data within the window and due
   * retransmissions. Normally called by `update`.
   */
  flush(): void {
    if (!this.updated) return;
    const current = this.current;
    const wnd = this.wndUnused();
    let size = 0;

    for (let i = 0; i < this.ackCount; i++) {
      size = this.makeRoom(size, KCP_OVERHEAD);
      size = this.writeControl(size, KcpCommand.Ack, this.ackList[i * 2], this.ackList[i * 2 + 1], wnd);
    }
    this.ackCount = 0;

    this.scheduleWindowProbe();
    if (this.probe & ASK_SEND) {
      size = this.makeRoom(size, KCP_OVERHEAD);
      size = this.writeControl(size, KcpCommand.WindowAsk, 0, 0, wnd);
    }
    if (this.probe & ASK_TELL) {
      size = this.makeRoom(size, KCP_OVERHEAD);
      size = this.writeControl(size, KcpCommand.WindowTell, 0, 0, wnd);
    }
    this.probe = 0;

    let cwnd = Math.min(this.sndWndSegments, this.rmtWnd);
    if (!this.nocwnd) cwnd = Math.min(this.cwndSegments, cwnd);
    while (seqDiff(this.sndNxt, this.sndUna + cwnd) < 0 && this.sndQueue.length > 0) {
      const segment = this.sndQueue.shift() as Segment;
      // A stream-mode segment can no longer grow: drop its spare room.
      if (segment.data.length !== segment.len) segment.data = segment.data.subarray(0, segment.len);
      segment.conv = this.conv;
      segment.cmd = KcpCommand.Push;
      segment.sn = this.sndNxt;
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      segment.resendts = current;
      segment.rto = this.rxRto;
      this.sndBuf.push(segment);
      this.nsndBuf++;
      this.unsentInBuf++;
    }

    const resent = this.fastresend > 0 ? this.fastresend : Infinity;
    const rtomin = this.nodelayMode === 0 ? this.rxRto >> 3 : 0;
    let fastRetransmitted = false;
    let timedOut = false;
    // Oldest first, so when pacing runs out, retransmissions have gone before new data.
    let budget = this.sendOps === null ? Infinity : this.sendOps.sendBudget(this, current);
    const firstRto = Math.max(this.rxRto, this.sendOps?.minRto?.(this) ?? 0);
    for (let i = 0; i < this.sndBuf.length; i++) {
      const segment = this.sndBuf.at(i);
      if (segment === null) continue;
      const timeout = segment.xmit > 0 && seqDiff(current, segment.resendts) >= 0;
      const fast = !timeout && segment.xmit > 0 && segment.fastack >= resent && (segment.xmit <= this.fastLimit || this.fastLimit <= 0);
      if (segment.xmit > 0 && !timeout && !fast) continue;
      if (budget < KCP_OVERHEAD + segment.len) break; // what is due stays due for the next flush
      if (segment.xmit === 0) {
        segment.xmit = 1;
        this.unsentInBuf--;
        // Nothing in flight: the delivery clock restarts here, so idle time is not read as a slow path.
        if (this.inflight === 0) this.deliveredAt = current;
        segment.firstTs = current;
        this.inflight += KCP_OVERHEAD + segment.len;
        segment.rto = firstRto;
        segment.resendts = (current + segment.rto + rtomin) >>> 0;
        this.stats.segmentsSent++;
      } else if (timeout) {
        if (segment.xmit++ === 1) this.stats.segmentsRepaired++;
        this.stats.timeoutRetransmits++;
        if (this.nodelayMode === 0) {
          segment.rto += Math.max(segment.rto, this.rxRto);
        } else {
          const step = this.nodelayMode < 2 ? segment.rto : this.rxRto;
          segment.rto += Math.floor(step / 2);
        }
        segment.resendts = (current + segment.rto) >>> 0;
        timedOut = true;
      } else {
        if (segment.xmit++ === 1) this.stats.segmentsRepaired++;
        segment.fastack = 0;
        segment.resendts = (current + segment.rto) >>> 0;
        this.stats.fastRetransmits++;
        fastRetransmitted = true;
      }
      segment.ts = current;
      segment.deliveredAtSend = this.deliveredBytes;
      segment.deliveredTimeAtSend = this.deliveredAt;
      segment.wnd = wnd;
      segment.una = this.rcvNxt;
      size = this.makeRoom(size, KCP_OVERHEAD + segment.len);
      size = encodeHeader(this.buffer, size, segment);
      this.buffer.set(segment.data, size);
      size += segment.len;
      budget -= KCP_OVERHEAD + segment.len;
      if (segment.xmit >= this.deadLink) this.deadState = -1;
    }
    if (size > 0) this.emit(size);
    this.sendOps?.sent(this, budget);

    if (fastRetransmitted) {
      const inflight = (this.sndNxt - this.sndUna) >>> 0;
      this.ssthresh = Math.max(THRESH_MIN, Math.floor(inflight / 2));
      this.cwndSegments = this.ssthresh + resent;
      this.incr = this.cwndSegments * this.mssBytes;
    }
    if (timedOut) {
      this.ssthresh = Math.max(THRESH_MIN, Math.floor(cwnd / 2));
      this.cwndSegments = 1;
      this.incr = this.mssBytes;
    }
    if (this.cwndSegments < 1) {
      this.cwndSegments = 1;
      this.incr = this.mssBytes;
    }
  }

  /** While the peer's window is 0, ask for it again with a growing interval (7 s up to 120 s). */
  private scheduleWindowProbe(): void {
    if (this.rmtWnd !== 0) {
      this.tsProbe = 0;
      this.probeWait = 0;
      return;
    }
    if (this.probeWait === 0) {
      this.probeWait = PROBE_INIT;
      this.tsProbe = (this.current + this.probeWait) >>> 0;
    } else if (seqDiff(this.current, this.tsProbe) >= 0) {
      this.probeWait = Math.min(PROBE_LIMIT, Math.max(PROBE_INIT, this.probeWait) * 1.5);
      this.probeWait = Math.floor(this.probeWait);
      this.tsProbe = (this.current + this.probeWait) >>> 0;
      this.probe |= ASK_SEND;
    }
  }

  /**
   * Advances the clock to `current` (ms, any origin, wraps at 2^32) and
   * flushes when an interval has passed. Call it every interval, or when
   * `check` says.
   */
  update(current: number): void {
    this.current = current >>> 0;
    if (!this.updated) {
      this.updated = true;
      this.tsFlush = this.current;
    }
    let slap = seqDiff(this.current, this.tsFlush);
    // A clock jump of more than 10 s resynchronises instead of flushing in a burst.
    if (slap >= 10_000 || slap < -10_000) {
      this.tsFlush = this.current;
      slap = 0;
    }
    if (slap >= 0) {
      this.tsFlush = (this.tsFlush + this.intervalMs) >>> 0;
      if (seqDiff(this.current, this.tsFlush) >= 0) this.tsFlush = (this.current + this.intervalMs) >>> 0;
      this.flush();
    }
  }

  /**
   * When `update` should next be called (absolute, same clock as `current`),
   * assuming no `input` or `send` happens before. Lets a scheduler serving
   * many conversations skip the idle ones.
   */
  check(current: number): number {
    current >>>= 0;
    if (!this.updated) return current;
    let tsFlush = this.tsFlush;
    const sinceFlush = seqDiff(current, tsFlush);
    if (sinceFlush >= 10_000 || sinceFlush < -10_000) tsFlush = current;
    if (seqDiff(current, tsFlush) >= 0) return current;
    let minimal = seqDiff(tsFlush, current);
    for (let i = 0; i < this.sndBuf.length; i++) {
      const segment = this.sndBuf.at(i);
      if (segment === null) continue;
      const untilResend = seqDiff(segment.resendts, current);
      if (untilResend <= 0) return current;
      if (untilResend < minimal) minimal = untilResend;
    }
    return (current + Math.min(minimal, this.intervalMs)) >>> 0;
  }

  /** Sets the MTU (datagram size, header included). Returns 0, or -1 if below 50. */
  setmtu(mtu: number): number {
    if (!Number.isInteger(mtu) || mtu < 50) return -1;
    this.buffer = new Uint8Array((mtu + KCP_OVERHEAD) * 3);
    this.mtuBytes = mtu;
    this.mssBytes = mtu - KCP_OVERHEAD;
    return 0;
  }

  /** Sets the flush interval in ms (clamped to 10..5000). */
  setInterval(interval: number): void {
    this.intervalMs = clamp(10, Math.floor(interval), 5000);
  }

  /**
   * ikcp_nodelay: `nodelay` 0/1/2, flush `interval` ms, fast `resend` after
   * that many skipping acks (0 off), `nc` 1 disables congestion control.
   * A negative argument leaves that setting unchanged.
   */
  nodelay(nodelay: number, interval: number, resend: number, nc: number): number {
    if (nodelay >= 0) {
      this.nodelayMode = nodelay;
      this.rxMinrto = nodelay ? RTO_NODELAY_MIN : RTO_MIN;
    }
    if (interval >= 0) this.setInterval(interval);
    if (resend >= 0) this.fastresend = resend;
    if (nc >= 0) this.nocwnd = nc !== 0;
    return 0;
  }

  /** Sets the send and receive windows in segments (0 leaves one unchanged; receive is at least 128). */
  wndsize(sndWnd: number, rcvWnd: number): number {
    if (sndWnd > 0) this.sndWndSegments = sndWnd;
    if (rcvWnd > 0) {
      this.rcvWndSegments = Math.max(rcvWnd, WND_RCV_MIN);
      if (this.rcvWndSegments > this.rcvSlots.length) this.growReceiveSlots();
    }
    return 0;
  }

  private growReceiveSlots(): void {
    const slots = new Array<Segment | undefined>(nextPowerOfTwo(this.rcvWndSegments));
    const mask = slots.length - 1;
    for (const segment of this.rcvSlots) if (segment !== undefined) slots[segment.sn & mask] = segment;
    this.rcvSlots = slots;
    this.rcvMask = mask;
  }

  /** Segments not transmitted even once yet: the send queue plus what pacing holds back. */
  unsentSegments(): number {
    return this.sndQueue.length + this.unsentInBuf;
  }

  /** Segments not yet acknowledged: queued plus in flight. */
  waitsnd(): number {
    return this.nsndBuf + this.sndQueue.length;
  }
}
