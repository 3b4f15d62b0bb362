import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { AmplificationGate } from './amplification.js';
import { FecCodec, type FecStats } from '../fec/fec-codec.js';
import { FecLink, parityFits, type FecSetting } from './fec-link.js';
import { KCP_OVERHEAD, KcpCommand, emptyKcpStats, inspectDatagram, type DatagramFault, type DatagramInspection, type KcpStats } from '../kcp.js';
import { KcpScheduler, KcpStream, KcpStreamError, type KcpTransport } from './stream.js';
import { DEFAULT_KCP_TUNING, type KcpTuning } from '../tuning.js';

export interface KcpEndpointLimits {
  maxSessions: number;
  maxSessionsPerIp: number;
  /** A session that receives nothing for this long ends. */
  idleTimeoutMs: number;
  /** A session whose upper layer has not called markVerified() by then ends. */
  handshakeTimeoutMs: number;
  /** Before verification, bytes sent to a peer stay below this multiple of bytes received from it. */
  amplificationFactor: number;
  /** Bytes a session may hold back for the amplification limit before dropping (KCP resends them). */
  maxHeldBytes: number;
  /** Segments a session's KCP may queue before writes wait (its send-side memory). */
  maxWaitSnd: number;
}

/**
 * Memory per session is bounded by the receive window (rcvWnd x MSS, 664 KiB
 * with the default tuning), the send queue (maxWaitSnd x MSS, 1 MiB) and the
 * held bytes; with 1000 sessions that is at most ~1.7 GiB in the worst case of
 * every session full at once, and typically a small fraction of it.
 */
export const DEFAULT_KCP_ENDPOINT_LIMITS: Readonly<KcpEndpointLimits> = Object.freeze({
  maxSessions: 1000,
  maxSessionsPerIp: 32,
  idleTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  amplificationFactor: 3,
  maxHeldBytes: 64 * 1024,
  maxWaitSnd: 2 * DEFAULT_KCP_TUNING.sndWnd,
});

/**
 * Why a datagram was dropped before reaching a session; 'fec-mismatch': a
 * new source's datagram is well-formed under another FEC setting (plain KCP
 * at an FEC port, FEC shards at a plain one, or other shard counts), so the
 * peer's FEC differs from this endpoint's; 'failed': processing it threw,
 * and its session was ended.
 */
export type KcpDropReason = DatagramFault | 'not-acceptable' | 'fec-mismatch' | 'session-limit' | 'per-ip-limit' | 'rejected' | 'failed';

export interface KcpEndpointStats {
  datagramsReceived: number;
  bytesReceived: number;
  datagramsSent: number;
  bytesSent: number;
  sessionsAccepted: number;
  sessionsClosed: number;
  dropped: Record<KcpDropReason, number>;
  /** Datagrams held back, and dropped, by the anti-amplification limit. */
  amplificationHeld: number;
  amplificationDropped: number;
}

export interface KcpSessionInfo {
  address: string;
  port: number;
  conv: number;
}

/**
 * UDP socket buffers asked of the kernel, bytes each way (SO_RCVBUF /
 * SO_SNDBUF). A keyframe leaves as a burst of segments and a server's one
 * socket takes every session's acks and data: Linux's default (208 KiB,
 * about 90 full datagrams once the kernel's per-packet overhead counts)
 * overflows, and what overflows is lost before KCP sees it. On 127.0.0.1
 * the default buffers lost ~2 % of a bulk transfer and held it to ~70
 * Mbit/s; 4 MiB moved 180-270 Mbit/s with no loss (npm run bench:kcp).
 * kcptun and SRT ask for as much. Linux caps the request at
 * net.core.rmem_max / wmem_max without an error: socketBuffers() tells what
 * was granted.
 */
export const DEFAULT_SOCKET_BUFFER_BYTES = 4 << 20;

/** What the kernel granted (Linux reports twice what it counts against the request, its bookkeeping included). */
export interface KcpSocketBuffers {
  requested: number;
  receive: number;
  send: number;
}

function createUdpSocket(type: 'udp4' | 'udp6', bufferBytes: number): dgram.Socket {
  return bufferBytes > 0 ? dgram.createSocket({ type, recvBufferSize: bufferBytes, sendBufferSize: bufferBytes }) : dgram.createSocket(type);
}

export interface KcpServerEndpointOptions {
  /** UDP port; 0 picks a free one. */
  port: number;
  host?: string;
  tuning?: KcpTuning;
  /** Socket buffers to ask for, bytes each way (default DEFAULT_SOCKET_BUFFER_BYTES; 0: the kernel's default). */
  socketBufferBytes?: number;
  limits?: Partial<KcpEndpointLimits>;
  /**
   * Reed-Solomon FEC on every link of this endpoint; its clients
   * must use the same setting. With FEC a UDP source port carries one
   * conversation, as connectKcp does.
   */
  fec?: FecSetting | null;
}

interface KcpServerEndpointEvents {
  session: [stream: KcpStream, info: KcpSessionInfo];
  error: [error: Error];
}

function addCounters<T extends object>(total: T, add: T): void {
  for (const key of Object.keys(total) as (keyof T)[]) (total[key] as number) += add[key] as number;
}

/** A UDP port can be forged cheaply, the address less so: it is what per-source limits count. */
function sessionKey(address: string, port: number, conv: number): string {
  return `${address}|${port}|${conv}`;
}

function sourceKey(address: string, port: number): string {
  return `${address}|${port}`;
}

/** One server-side session: the transport under a KcpStream, with the amplification gate. */
class ServerSession implements KcpTransport {
  readonly stream: KcpStream;
  /** FEC on this session's link, when the endpoint uses it. */
  readonly fec: FecLink | null;
  /** The 'session' event went out (after the first datagram was processed). */
  announced = false;
  private readonly gate: AmplificationGate;

  constructor(
    readonly key: string,
    readonly info: KcpSessionInfo,
    private readonly endpoint: KcpServerEndpoint,
    tuning: KcpTuning,
    limits: KcpEndpointLimits,
    fec: FecSetting | null,
  ) {
    // The gate sits under FEC: shard headers and parity are bytes on the wire
    // too, so they count in the budget both ways.
    const sendToPeer = (datagram: Buffer) => endpoint.sendTo(datagram, info.port, info.address);
    this.gate = new AmplificationGate(limits.amplificationFactor, limits.maxHeldBytes, sendToPeer, endpoint.stats);
    this.fec = fec ? new FecLink(fec, (shard) => this.gate.send(shard), () => parityFits(this.stream.kcp, fec)) : null;
    this.stream = new KcpStream({
      conv: info.conv,
      transport: this,
      scheduler: endpoint.scheduler,
      remoteAddress: info.address,
      remotePort: info.port,
      tuning,
      idleTimeoutMs: limits.idleTimeoutMs,
      verifyTimeoutMs: limits.handshakeTimeoutMs,
      maxWaitSnd: limits.maxWaitSnd,
    });
  }

  get fecStats(): FecStats | undefined {
    return this.fec?.stats;
  }

  /** `bytes` arrived from the peer on the wire (a datagram, or with FEC a shard). */
  arrived(bytes: number): void {
    this.gate.received(bytes);
  }

  receive(datagram: Buffer): number {
    return this.stream.receiveDatagram(datagram);
  }

  send(datagram: Buffer): void {
    if (this.fec) this.fec.send(datagram);
    else this.gate.send(datagram);
  }

  verified(): void {
    this.gate.verify();
  }

  closed(): void {
    this.fec?.close();
    this.endpoint.forget(this);
  }
}

/**
 * The server's KCP side: one UDP socket, many sessions told apart by remote
 * address, port and conv. Emits 'session' with a KcpStream for each new
 * conversation; the upper layer (RTMP) reads and writes it like a TCP socket
 * and calls markVerified() once its own handshake completes.
 *
 * A datagram creates a session only if it is well-formed KCP and starts a
 * conversation (a PUSH with sn 0 and una 0), and only within the session
 * limits; everything else that matches no session is dropped and counted.
 * A datagram whose processing throws is dropped too, and ends only its own
 * session: one peer's input never takes the socket down.
 */
export class KcpServerEndpoint extends EventEmitter<KcpServerEndpointEvents> {
  readonly stats: KcpEndpointStats = {
    datagramsReceived: 0,
    bytesReceived: 0,
    datagramsSent: 0,
    bytesSent: 0,
    sessionsAccepted: 0,
    sessionsClosed: 0,
    dropped: {
      'too-short': 0,
      'bad-command': 0,
      'bad-length': 0,
      'mixed-conv': 0,
      'not-acceptable': 0,
      'fec-mismatch': 0,
      'session-limit': 0,
      'per-ip-limit': 0,
      rejected: 0,
      failed: 0,
    },
    amplificationHeld: 0,
    amplificationDropped: 0,
  };
  readonly scheduler: KcpScheduler;
  readonly limits: KcpEndpointLimits;
  private readonly tuning: KcpTuning;
  private readonly socket: dgram.Socket;
  private readonly sessions = new Map<string, ServerSession>();
  /** With FEC: the session of each source address and port (its link unwraps the shards). */
  private readonly sessionsBySource = new Map<string, ServerSession>();
  private readonly sessionsPerIp = new Map<string, number>();
  /** KCP counters of sessions that have ended, so totals never go backwards. */
  private readonly endedKcpStats = emptyKcpStats();
  private readonly endedFecStats: FecStats = { dataIn: 0, parityIn: 0, recovered: 0, malformed: 0 };

  constructor(private readonly options: KcpServerEndpointOptions) {
    super();
    this.tuning = options.tuning ?? DEFAULT_KCP_TUNING;
    this.limits = { ...DEFAULT_KCP_ENDPOINT_LIMITS, ...options.limits };
    this.scheduler = new KcpScheduler(this.tuning.interval);
    this.socket = createUdpSocket(net.isIPv6(options.host ?? '') ? 'udp6' : 'udp4', options.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER_BYTES);
    this.socket.on('message', (datagram, remote) => this.onDatagram(datagram, remote.address, remote.port));
    this.socket.on('error', (error) => this.emit('error', error));
  }

  /** Binds the socket; resolves with the bound address. */
  listen(): Promise<net.AddressInfo> {
    const port = this.options.port;
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(port, this.options.host, () => {
        this.socket.off('error', reject);
        resolve(this.socket.address());
      });
    });
  }

  address(): net.AddressInfo {
    return this.socket.address();
  }

  /** The bound socket's buffers as the kernel granted them (compare with `requested`: a cap is silent). */
  socketBuffers(): KcpSocketBuffers {
    return {
      requested: this.options.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER_BYTES,
      receive: this.socket.getRecvBufferSize(),
      send: this.socket.getSendBufferSize(),
    };
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Live sessions' streams (for metrics). */
  streams(): IterableIterator<KcpStream> {
    return Array.from(this.sessions.values(), (session) => session.stream).values();
  }

  /** KCP counters summed over every session this endpoint has had. */
  kcpTotals(): KcpStats {
    const totals = emptyKcpStats();
    addCounters(totals, this.endedKcpStats);
    for (const session of this.sessions.values()) addCounters(totals, session.stream.kcp.stats);
    return totals;
  }

  /** FEC counters (shards in, rebuilt, malformed) summed over every session this endpoint has had. */
  fecTotals(): FecStats {
    const totals = { ...this.endedFecStats };
    for (const session of this.sessions.values()) if (session.fec) addCounters(totals, session.fec.stats);
    return totals;
  }

  /** Ends every session and closes the socket. */
  close(): Promise<void> {
    for (const session of [...this.sessions.values()]) session.stream.destroy();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private onDatagram(datagram: Buffer, address: string, port: number): void {
    this.stats.datagramsReceived++;
    this.stats.bytesReceived += datagram.length;
    if (this.options.fec) this.onFecShard(datagram, address, port);
    else this.onKcpDatagram(datagram, address, port);
  }

  private onKcpDatagram(datagram: Buffer, address: string, port: number): void {
    const inspection = inspectDatagram(datagram);
    if (!inspection.ok) {
      this.stats.dropped[framedForOtherFec(datagram, null) ? 'fec-mismatch' : inspection.fault]++;
      return;
    }
    const key = sessionKey(address, port, inspection.conv);
    const session = this.sessions.get(key) ?? this.openIfAcceptable(key, inspection, address, port);
    if (session === undefined) return;
    session.arrived(datagram.length);
    this.deliver(session, datagram);
  }

  /**
   * With FEC the shard is unwrapped by the link of its source address and
   * port, which carries one conversation. A source without a session costs
   * nothing, no link and no codec: its shard is read as it is (only a data
   * shard can carry the PUSH that opens a conversation), and the session and
   * its link exist only once that datagram is acceptable.
   */
  private onFecShard(shard: Buffer, address: string, port: number): void {
    const session = this.sessionsBySource.get(sourceKey(address, port)) ?? this.openForShard(shard, address, port);
    if (session === undefined) return;
    session.arrived(shard.length);
    try {
      session.fec!.receive(shard, (datagram) => {
        const inspection = inspectDatagram(datagram);
        if (!inspection.ok) this.stats.dropped[inspection.fault]++;
        else if (inspection.conv !== session.info.conv) this.stats.dropped['mixed-conv']++;
        else this.deliver(session, datagram);
      });
    } catch (error) {
      this.fail(session, error);
    }
  }

  private openForShard(shard: Buffer, address: string, port: number): ServerSession | undefined {
    const { dataShards, parityShards } = this.options.fec!;
    const datagram = FecCodec.peekDatagram(shard, dataShards, parityShards);
    if (datagram === null) {
      this.stats.dropped[framedForOtherFec(shard, this.options.fec!) ? 'fec-mismatch' : 'not-acceptable']++;
      return undefined;
    }
    const inspection = inspectDatagram(datagram);
    if (!inspection.ok) {
      this.stats.dropped[inspection.fault]++;
      return undefined;
    }
    return this.openIfAcceptable(sessionKey(address, port, inspection.conv), inspection, address, port);
  }

  /** Feeds a datagram to its session; the first one processed announces the session. */
  private deliver(session: ServerSession, datagram: Buffer): void {
    try {
      if (session.receive(datagram) < 0) this.stats.dropped.rejected++;
      if (!session.announced && !session.stream.destroyed) {
        session.announced = true;
        this.emit('session', session.stream, session.info);
      }
    } catch (error) {
      this.fail(session, error);
    }
  }

  /** Processing a datagram threw (a bug, or a listener's): drop it and end only that session. */
  private fail(session: ServerSession, error: unknown): void {
    this.stats.dropped.failed++;
    // A session nobody was told about has no 'error' listener yet.
    if (!session.announced) session.stream.destroy();
    else session.stream.destroy(new KcpStreamError('ERR_KCP_INPUT', `processing a datagram failed: ${(error as Error)?.message ?? String(error)}`));
  }

  private openIfAcceptable(key: string, first: Extract<DatagramInspection, { ok: true }>, address: string, port: number): ServerSession | undefined {
    const refusal = this.refusalOfNewSession(first.firstCmd, first.firstSn, first.firstUna, address);
    if (refusal !== undefined) {
      this.stats.dropped[refusal]++;
      return undefined;
    }
    return this.open(key, { address, port, conv: first.conv });
  }

  private refusalOfNewSession(cmd: number, sn: number, una: number, address: string): KcpDropReason | undefined {
    if (cmd !== KcpCommand.Push || sn !== 0 || una !== 0) return 'not-acceptable';
    if (this.sessions.size >= this.limits.maxSessions) return 'session-limit';
    if ((this.sessionsPerIp.get(address) ?? 0) >= this.limits.maxSessionsPerIp) return 'per-ip-limit';
    return undefined;
  }

  private open(key: string, info: KcpSessionInfo): ServerSession {
    const session = new ServerSession(key, info, this, this.tuning, this.limits, this.options.fec ?? null);
    if (session.fec) this.sessionsBySource.set(sourceKey(info.address, info.port), session);
    this.sessions.set(key, session);
    this.sessionsPerIp.set(info.address, (this.sessionsPerIp.get(info.address) ?? 0) + 1);
    this.stats.sessionsAccepted++;
    return session;
  }

  /** Sends one datagram from the endpoint's socket, counted. */
  sendTo(datagram: Uint8Array, port: number, address: string): void {
    this.stats.datagramsSent++;
    this.stats.bytesSent += datagram.length;
    this.socket.send(datagram, port, address);
  }

  /** Called by a session whose stream closed. */
  forget(session: ServerSession): void {
    if (this.sessions.get(session.key) !== session) return;
    this.sessions.delete(session.key);
    const source = sourceKey(session.info.address, session.info.port);
    if (this.sessionsBySource.get(source) === session) this.sessionsBySource.delete(source);
    const remaining = (this.sessionsPerIp.get(session.info.address) ?? 1) - 1;
    if (remaining > 0) this.sessionsPerIp.set(session.info.address, remaining);
    else this.sessionsPerIp.delete(session.info.address);
    this.stats.sessionsClosed++;
    addCounters(this.endedKcpStats, session.stream.kcp.stats);
    if (session.fec) addCounters(this.endedFecStats, session.fec.stats);
  }
}

export interface KcpClientOptions {
  tuning?: KcpTuning;
  /** Conversation id; random by default, so reconnects never collide with an old session. */
  conv?: number;
  idleTimeoutMs?: number;
  maxWaitSnd?: number;
  /** FEC on this link; the server must use the same setting. */
  fec?: FecSetting | null;
  /** Socket buffers to ask for, bytes each way (default DEFAULT_SOCKET_BUFFER_BYTES; 0: the kernel's default). */
  socketBufferBytes?: number;
  /**
   * Pad for the server's anti-amplification budget until the upper layer
   * calls markVerified() (its handshake completed), for at most this long
   * (default: the server's handshake timeout, 10 s; 0: never). See
   * KcpStreamOptions.padUntilVerifiedMs.
   */
  padUntilVerifiedMs?: number;
}

/**
 * Opens a KCP conversation to `host:port` over a fresh UDP socket and
 * returns its stream. UDP has no connection setup: the stream is usable at
 * once and the server creates the session on the first data it receives.
 * Destroying or ending the stream closes the socket.
 */
export async function connectKcp(host: string, port: number, options: KcpClientOptions = {}): Promise<KcpStream> {
  const address = net.isIP(host) ? host : (await dns.lookup(host)).address;
  const socket = createUdpSocket(net.isIPv6(address) ? 'udp6' : 'udp4', options.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER_BYTES);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    // A connected UDP socket only delivers datagrams from the server.
    socket.connect(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const tuning = options.tuning ?? DEFAULT_KCP_TUNING;
  let socketOpen = true;
  socket.once('close', () => (socketOpen = false));
  const sendToServer = (datagram: Uint8Array) => {
    if (socketOpen) socket.send(datagram);
  };
  const setting = options.fec;
  const fec = setting ? new FecLink(setting, sendToServer, () => parityFits(stream.kcp, setting)) : null;
  const transport: KcpTransport = {
    fecStats: fec?.stats,
    send: fec ? (datagram) => fec.send(datagram) : sendToServer,
    closed: () => {
      fec?.close();
      if (socketOpen) socket.close();
    },
  };
  const stream = new KcpStream({
    conv: options.conv ?? randomInt(1, 2 ** 32 - 1),
    transport,
    scheduler: new KcpScheduler(tuning.interval),
    remoteAddress: address,
    remotePort: port,
    tuning,
    idleTimeoutMs: options.idleTimeoutMs,
    maxWaitSnd: options.maxWaitSnd,
    padUntilVerifiedMs: options.padUntilVerifiedMs ?? DEFAULT_KCP_ENDPOINT_LIMITS.handshakeTimeoutMs,
  });
  const deliver = (datagram: Buffer) => stream.receiveDatagram(datagram);
  socket.on('message', fec ? (shard) => fec.receive(shard, deliver) : deliver);
  socket.on('error', (error) => stream.destroy(error));
  return stream;
}

/**
 * True if `datagram`, which this endpoint's FEC setting (`fec`, null: none)
 * cannot read, is well-formed under another one: a KCP datagram at an FEC
 * port, or, at any port, an FEC shard of other counts (a data shard's KCP
 * datagram must be well-formed too). Shards shorter than a data shard with
 * a KCP header are not taken for one, so short garbage stays garbage.
 */
function framedForOtherFec(datagram: Buffer, fec: FecSetting | null): boolean {
  if (fec !== null && inspectDatagram(datagram).ok) return true;
  if (datagram.length < FecCodec.overhead + KCP_OVERHEAD) return false;
  const shard = FecCodec.peekAnyShard(datagram);
  if (shard === null || (fec !== null && shard.setting.dataShards === fec.dataShards && shard.setting.parityShards === fec.parityShards)) return false;
  return shard.datagram === null || inspectDatagram(shard.datagram).ok;
}
