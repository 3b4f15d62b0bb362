import { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { FecStats } from '../fec/fec-codec.js';
import { Kcp } from '../kcp.js';
import { DEFAULT_KCP_TUNING, type KcpTuning } from '../tuning.js';

/** Where a KcpStream's datagrams go: a UDP socket, through whatever policy its owner applies. */
export interface KcpTransport {
  /** Sends one datagram; the stream hands over a buffer it no longer touches. */
  send(datagram: Buffer): void;
  /** The upper layer has authenticated the peer (see KcpStream.markVerified). */
  verified?(): void;
  /** The stream is gone: release the socket or the session slot. */
  closed(): void;
  /** FEC counters of this link, when it uses FEC. */
  readonly fecStats?: FecStats;
}

/**
 * Drives every KcpStream of one endpoint from a single timer, so a server
 * with thousands of sessions still wakes up once per interval.
 */
export class KcpScheduler {
  private readonly streams = new Set<KcpStream>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  /** Milliseconds on a monotonic clock (wall-clock jumps must not fire timeouts). */
  now(): number {
    return Math.floor(performance.now());
  }

  add(stream: KcpStream): void {
    this.streams.add(stream);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      // The socket keeps the process alive while it matters; the timer never should.
      this.timer.unref();
    }
  }

  remove(stream: KcpStream): void {
    this.streams.delete(stream);
    if (this.streams.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    const now = this.now();
    for (const stream of this.streams) stream.tick(now);
  }
}

export interface KcpStreamOptions {
  conv: number;
  transport: KcpTransport;
  scheduler: KcpScheduler;
  remoteAddress: string;
  remotePort: number;
  tuning?: KcpTuning;
  /** Destroy the stream after this long without a datagram from the peer (default 30 s). */
  idleTimeoutMs?: number;
  /** Destroy the stream unless markVerified() is called within this time (server sessions). */
  verifyTimeoutMs?: number;
  /** Writes wait while more than this many segments are queued or unacknowledged (default 2 x sndWnd). */
  maxWaitSnd?: number;
  /** How long end() waits for the peer to acknowledge everything (default 10 s). */
  closeTimeoutMs?: number;
  /**
   * Client streams: until markVerified() is called, or for at most this long,
   * send PADDING_BYTES of padding once per retransmission timeout (default 0:
   * never). A server sends an address it has not verified at most 3x what
   * it received from it; when its handshake reply is lost and lost again
   * (10-20 % loss), its retransmissions wait for bytes a client that is only
   * waiting never sends, and the handshake stalls until a timeout. QUIC
   * clients pad their probes for the same reason (RFC 9000, section 8.1).
   */
  padUntilVerifiedMs?: number;
}

/** Bytes of padding per probe: a server's 3x budget for two full retransmissions and more. */
const PADDING_BYTES = 1200;
/** Shortest time between two padding probes. */
const PADDING_MIN_GAP_MS = 100;

/** ERR_KCP_INPUT: processing one of the peer's datagrams threw (see KcpServerEndpoint). */
export type KcpStreamErrorCode = 'ERR_KCP_DEAD_LINK' | 'ERR_KCP_IDLE_TIMEOUT' | 'ERR_KCP_VERIFY_TIMEOUT' | 'ERR_KCP_CLOSE_TIMEOUT' | 'ERR_KCP_INPUT';

export class KcpStreamError extends Error {
  constructor(
    readonly code: KcpStreamErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KcpStreamError';
  }
}

/** Segments per kcp.send call: small enough to stay far below MAX_FRAGMENTS and to interleave with backpressure checks. */
const SEGMENTS_PER_SEND = 32;

interface PendingWrite {
  chunk: Buffer;
  offset: number;
  callback: (error?: Error | null) => void;
}

/**
 * A byte stream over one KCP conversation (KCP stream mode), as a Node Duplex:
 * what TCP sockets are to RTMP, this is to RTMP over KCP.
 *
 * Flow control both ways: a write completes only once KCP's send queue is
 * below `maxWaitSnd`, and received data stays in KCP (shrinking the window we
 * advertise) while the reader does not keep up.
 *
 * KCP has no close handshake: end() waits until the peer acknowledged
 * everything, then closes locally; the peer notices through its own upper
 * protocol or its idle timeout. The stream emits 'error' (KcpStreamError)
 * then 'close' on a dead link, an idle timeout or a missed verification.
 */
export class KcpStream extends Duplex {
  readonly kcp: Kcp;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private readonly transport: KcpTransport;
  private readonly scheduler: KcpScheduler;
  private readonly idleTimeoutMs: number;
  private readonly verifyTimeoutMs: number | undefined;
  private readonly maxWaitSnd: number;
  private readonly closeTimeoutMs: number;
  private readonly createdAt: number;
  private lastReceivedAt: number;
  private isVerified = false;
  private readerWantsMore = true;
  private pendingWrite: PendingWrite | undefined;
  private finalCallback: ((error?: Error | null) => void) | undefined;
  private finalStartedAt = 0;
  /** Padding probes stop at this time (scheduler clock; 0: none). */
  private padUntil = 0;
  private nextPadAt = 0;

  constructor(options: KcpStreamOptions) {
    super({ allowHalfOpen: true });
    const tuning = options.tuning ?? DEFAULT_KCP_TUNING;
    this.kcp = new Kcp(options.conv, (datagram) => this.transport.send(Buffer.from(datagram)), { ...tuning, stream: true });
    this.transport = options.transport;
    this.scheduler = options.scheduler;
    this.remoteAddress = options.remoteAddress;
    this.remotePort = options.remotePort;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.verifyTimeoutMs = options.verifyTimeoutMs;
    this.maxWaitSnd = options.maxWaitSnd ?? 2 * tuning.sndWnd;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.createdAt = this.lastReceivedAt = this.scheduler.now();
    if (options.padUntilVerifiedMs) {
      this.padUntil = this.createdAt + options.padUntilVerifiedMs;
      this.nextPadAt = this.createdAt + Math.max(PADDING_MIN_GAP_MS, this.kcp.rto);
    }
    this.scheduler.add(this);
    this.once('finish', () => this.destroy());
  }

  /**
   * Bytes written and not sent even once: what the writer handed over and
   * KCP has not taken yet, plus KCP's unsent segments (its send queue and
   * what pacing holds back). A live sender reads its queue's age from this;
   * data already in flight is not counted, since dropping media can no
   * longer speed it up.
   */
  get sendQueueBytes(): number {
    return this.writableLength - (this.pendingWrite?.offset ?? 0) + this.kcp.unsentSegments() * this.kcp.mss;
  }

  get verified(): boolean {
    return this.isVerified;
  }

  /** FEC counters of this stream's link (shards in, datagrams rebuilt from parity); undefined without FEC. */
  get fecStats(): FecStats | undefined {
    return this.transport.fecStats;
  }

  /**
   * The upper layer authenticated the peer (the RTMP handshake completed):
   * lifts the anti-amplification limit and the verification deadline.
   */
  markVerified(): void {
    if (this.isVerified) return;
    this.isVerified = true;
    this.padUntil = 0;
    this.transport.verified?.();
  }

  /** Feeds a datagram from the peer; returns Kcp.input's result (negative: rejected). */
  receiveDatagram(datagram: Uint8Array): number {
    if (this.destroyed) return 0;
    const now = this.scheduler.now();
    const result = this.kcp.input(datagram, now);
    if (result < 0) return result;
    this.lastReceivedAt = now;
    this.deliverReceived();
    this.pumpWrites();
    return result;
  }

  /** One scheduler step: flush KCP, then enforce deadlines. */
  tick(now: number): void {
    if (this.destroyed) return;
    this.kcp.update(now);
    this.pumpWrites();
    if (now < this.padUntil && now >= this.nextPadAt) this.sendPadding(now);
    if (this.kcp.state < 0) {
      this.destroy(new KcpStreamError('ERR_KCP_DEAD_LINK', `KCP link to ${this.remoteAddress}:${this.remotePort} is dead`));
    } else if (now - this.lastReceivedAt > this.idleTimeoutMs) {
      this.destroy(new KcpStreamError('ERR_KCP_IDLE_TIMEOUT', `nothing received for ${this.idleTimeoutMs} ms`));
    } else if (!this.isVerified && this.verifyTimeoutMs !== undefined && now - this.createdAt > this.verifyTimeoutMs) {
      this.destroy(new KcpStreamError('ERR_KCP_VERIFY_TIMEOUT', `peer not verified within ${this.verifyTimeoutMs} ms`));
    } else if (this.finalCallback !== undefined && now - this.finalStartedAt > this.closeTimeoutMs) {
      this.destroy(new KcpStreamError('ERR_KCP_CLOSE_TIMEOUT', `peer did not acknowledge our data within ${this.closeTimeoutMs} ms`));
    }
  }

  private sendPadding(now: number): void {
    const padding = Buffer.allocUnsafe(PADDING_BYTES);
    this.transport.send(padding.subarray(0, this.kcp.writePadding(padding)));
    this.nextPadAt = now + Math.max(PADDING_MIN_GAP_MS, this.kcp.rto);
  }

  /** Moves received bytes to the readable side while the reader wants them. */
  private deliverReceived(): void {
    while (this.readerWantsMore) {
      const size = this.kcp.peeksize();
      if (size < 0) return;
      const chunk = Buffer.allocUnsafe(size);
      this.kcp.recv(chunk);
      this.readerWantsMore = this.push(chunk);
    }
  }

  override _read(): void {
    this.readerWantsMore = true;
    this.deliverReceived();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (chunk.length === 0) {
      callback();
      return;
    }
    this.pendingWrite = { chunk, offset: 0, callback };
    this.pumpWrites();
  }

  /** Hands the pending write to KCP as far as the send-queue bound allows; finishes end() once all is acked. */
  private pumpWrites(): void {
    const pending = this.pendingWrite;
    if (pending !== undefined) {
      const pieceBytes = this.kcp.mss * SEGMENTS_PER_SEND;
      while (pending.offset < pending.chunk.length && this.kcp.waitsnd() < this.maxWaitSnd) {
        const end = Math.min(pending.chunk.length, pending.offset + pieceBytes);
        this.kcp.send(pending.chunk.subarray(pending.offset, end));
        pending.offset = end;
      }
      if (pending.offset < pending.chunk.length) return;
      this.pendingWrite = undefined;
      pending.callback();
    }
    if (this.finalCallback !== undefined && this.kcp.waitsnd() === 0) {
      const callback = this.finalCallback;
      this.finalCallback = undefined;
      callback();
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finalCallback = callback;
    this.finalStartedAt = this.scheduler.now();
    this.pumpWrites();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A clean close still owes the peer acks for what we received last.
    if (error === null) this.kcp.flush();
    this.scheduler.remove(this);
    this.pendingWrite = undefined;
    this.finalCallback = undefined;
    this.transport.closed();
    callback(error);
  }
}
