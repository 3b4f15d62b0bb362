import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { Kcp, KCP_OVERHEAD } from 'kcp-ts';
import { DEFAULT_SOCKET_BUFFER_BYTES } from 'kcp-ts/node';
import type { KcpTuning } from 'kcp-ts';

/**
 * The calls a peer makes on its KCP: the API of node-kcp's native object (a
 * thin wrapper over ikcp.c), which `ourKcpEngine` gives our Kcp too.
 */
export interface KcpEngine {
  input(datagram: Buffer): number;
  /** Queues a message (or bytes, in stream mode); negative: refused. */
  send(data: Buffer): number;
  update(nowMs: number): void;
  /** The next message (message mode), or data received so far (stream mode), or undefined. */
  recv(): Buffer | undefined;
  waitsnd(): number;
  release(): void;
}

/** Makes the KCP of one end; `output` takes a datagram the engine no longer touches. */
export type KcpEngineFactory = (conv: number, tuning: KcpTuning, stream: boolean, output: (datagram: Buffer) => void) => KcpEngine;

interface NativeKcp extends KcpEngine {
  nodelay(nodelay: number, interval: number, resend: number, nc: number): number;
  wndsize(sndWnd: number, rcvWnd: number): number;
  setmtu(mtu: number): number;
  stream(on: number): number;
  output(callback: (data: Buffer, size: number) => void): void;
}

// node-kcp's package.json "main" points at a build helper, not the binding.
const nodeKcp = createRequire(import.meta.url)('node-kcp/index.js') as { KCP: new (conv: number) => NativeKcp };

/** The reference C implementation (skywind3000's ikcp.c via node-kcp). */
export const referenceKcpEngine: KcpEngineFactory = (conv, tuning, stream, output) => {
  const kcp = new nodeKcp.KCP(conv);
  kcp.nodelay(tuning.nodelay, tuning.interval, tuning.resend, tuning.nc ? 1 : 0);
  kcp.wndsize(tuning.sndWnd, tuning.rcvWnd);
  kcp.setmtu(tuning.mtu);
  kcp.stream(stream ? 1 : 0);
  kcp.output((data, size) => output(data.subarray(0, size)));
  return kcp;
};

/**
 * Our Kcp behind the same calls, for what KcpStream does not offer (message
 * mode): both ends then run in the same harness.
 */
export const ourKcpEngine: KcpEngineFactory = (conv, tuning, stream, output) => {
  const kcp = new Kcp(conv, (datagram) => output(Buffer.from(datagram)), { ...tuning, stream });
  return {
    input: (datagram) => kcp.input(datagram),
    send: (data) => kcp.send(data),
    update: (nowMs) => kcp.update(nowMs),
    recv: () => {
      const size = kcp.peeksize();
      if (size < 0) return undefined;
      const data = Buffer.allocUnsafe(size);
      kcp.recv(data);
      return data;
    },
    waitsnd: () => kcp.waitsnd(),
    release: () => {},
  };
};

export interface KcpPeerOptions {
  /** Whose KCP runs this end (default: the reference C one). */
  engine?: KcpEngineFactory;
  /**
   * Stream mode (default true). Off, each write() is one message, sent whole
   * (ikcp fragments it, frg counting down) and received whole.
   */
  stream?: boolean;
}

/** Highest frg field among the segments of a datagram. */
function highestFrg(datagram: Buffer): number {
  let highest = 0;
  for (let offset = 0; offset + KCP_OVERHEAD <= datagram.length; offset += KCP_OVERHEAD + datagram.readUInt32LE(offset + 20)) {
    highest = Math.max(highest, datagram[offset + 5]);
  }
  return highest;
}

/**
 * One end of a KCP conversation over its own UDP socket, run by the reference
 * C implementation (or, with `engine: ourKcpEngine`, by ours): what interop
 * tests and the benchmark compare our KCP against. It accepts the first
 * conversation that reaches it (server) or starts one (client).
 */
export class UdpKcpPeer {
  private kcp: KcpEngine | undefined;
  private remote: { address: string; port: number } | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly outgoing: Buffer[] = [];
  private readonly received: Buffer[] = [];
  private readonly engine: KcpEngineFactory;
  private readonly stream: boolean;
  receivedBytes = 0;
  /** Highest frg field seen in a received segment (0 in stream mode). */
  highestFrgReceived = 0;
  private closed = false;
  private waiters: { bytes: number; resolve: () => void }[] = [];

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly tuning: KcpTuning,
    options: KcpPeerOptions,
    /** Segments queued in KCP above which we stop handing it data. */
    private readonly maxWaitSnd = 2 * tuning.sndWnd,
  ) {
    this.engine = options.engine ?? referenceKcpEngine;
    this.stream = options.stream ?? true;
    socket.on('message', (datagram, from) => {
      if (this.closed || datagram.length < KCP_OVERHEAD) return;
      if (this.kcp === undefined) this.open(datagram.readUInt32LE(0), from);
      this.highestFrgReceived = Math.max(this.highestFrgReceived, highestFrg(datagram));
      this.kcp?.input(datagram);
      this.collect();
    });
    this.timer = setInterval(() => this.tick(), tuning.interval);
  }

  /** With the socket buffers our endpoint asks for, so a comparison measures the KCPs, not the kernel's defaults. */
  private static socket(): dgram.Socket {
    return dgram.createSocket({ type: 'udp4', recvBufferSize: DEFAULT_SOCKET_BUFFER_BYTES, sendBufferSize: DEFAULT_SOCKET_BUFFER_BYTES });
  }

  static async listen(tuning: KcpTuning, options: KcpPeerOptions = {}): Promise<{ peer: UdpKcpPeer; port: number }> {
    const socket = UdpKcpPeer.socket();
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return { peer: new UdpKcpPeer(socket, tuning, options), port: socket.address().port };
  }

  static async connect(port: number, conv: number, tuning: KcpTuning, options: KcpPeerOptions = {}): Promise<UdpKcpPeer> {
    const socket = UdpKcpPeer.socket();
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const peer = new UdpKcpPeer(socket, tuning, options);
    peer.open(conv, { address: '127.0.0.1', port });
    return peer;
  }

  private open(conv: number, remote: { address: string; port: number }): void {
    this.kcp = this.engine(conv, this.tuning, this.stream, (datagram) => this.socket.send(datagram, remote.port, remote.address));
    this.remote = remote;
  }

  /** Queues bytes (in message mode: one message) to send; they enter KCP as its send queue drains. */
  write(data: Buffer): void {
    this.outgoing.push(data);
    this.pump();
  }

  /** Resolves once `bytes` bytes have been received in total. */
  whenReceived(bytes: number): Promise<void> {
    if (this.receivedBytes >= bytes) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ bytes, resolve }));
  }

  receivedData(): Buffer {
    return Buffer.concat(this.received);
  }

  /** What each recv returned: in message mode, the messages received. */
  receivedMessages(): readonly Buffer[] {
    return this.received;
  }

  get connected(): boolean {
    return this.remote !== undefined;
  }

  private tick(): void {
    if (this.kcp === undefined) return;
    this.kcp.update(Date.now());
    this.pump();
    this.collect();
  }

  private pump(): void {
    const kcp = this.kcp;
    if (kcp === undefined) return;
    while (this.outgoing.length > 0 && kcp.waitsnd() < this.maxWaitSnd) {
      const chunk = this.outgoing.shift() as Buffer;
      // ikcp refuses sends of 128+ segments, so a stream hands it at most 32 at a time.
      const piece = this.stream ? 32 * (this.tuning.mtu - KCP_OVERHEAD) : chunk.length;
      if (chunk.length > piece) this.outgoing.unshift(chunk.subarray(piece));
      const result = kcp.send(chunk.subarray(0, piece));
      if (result < 0) throw new Error(`KCP refused a send of ${piece} bytes (${result})`);
    }
  }

  private collect(): void {
    for (let data = this.kcp?.recv(); data !== undefined; data = this.kcp?.recv()) {
      this.received.push(data);
      this.receivedBytes += data.length;
    }
    const ready = this.waiters.filter((waiter) => this.receivedBytes >= waiter.bytes);
    this.waiters = this.waiters.filter((waiter) => this.receivedBytes < waiter.bytes);
    for (const waiter of ready) waiter.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.kcp?.release();
    this.kcp = undefined;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** The name the benchmark knows it by. */
export { UdpKcpPeer as ReferenceKcpPeer };
