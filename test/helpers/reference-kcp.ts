import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import type { KcpTuning } from '../../services/media/src/kcp/tuning.js';

/** The API of node-kcp's native KCP object (a thin wrapper over ikcp.c). */
interface NativeKcp {
  nodelay(nodelay: number, interval: number, resend: number, nc: number): number;
  wndsize(sndWnd: number, rcvWnd: number): number;
  setmtu(mtu: number): number;
  stream(on: number): number;
  output(callback: (data: Buffer, size: number) => void): void;
  input(datagram: Buffer): number;
  /** Everything received so far (stream mode), or undefined. */
  recv(): Buffer | undefined;
  send(data: Buffer): number;
  update(nowMs: number): void;
  waitsnd(): number;
  release(): void;
}

// node-kcp's package.json "main" points at a build helper, not the binding.
const nodeKcp = createRequire(import.meta.url)('node-kcp/index.js') as { KCP: new (conv: number) => NativeKcp };

/**
 * One end of a KCP conversation run by the reference C implementation
 * (skywind3000's ikcp.c via node-kcp), over its own UDP socket, in stream
 * mode: what interop tests and the benchmark compare our KCP against.
 * It accepts the first conversation that reaches it (server) or starts one
 * (client).
 */
export class ReferenceKcpPeer {
  private kcp: NativeKcp | undefined;
  private remote: { address: string; port: number } | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly outgoing: Buffer[] = [];
  private readonly received: Buffer[] = [];
  receivedBytes = 0;
  private closed = false;
  private waiters: { bytes: number; resolve: () => void }[] = [];

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly tuning: KcpTuning,
    /** Segments queued in C KCP above which we stop handing it data. */
    private readonly maxWaitSnd = 2 * tuning.sndWnd,
  ) {
    socket.on('message', (datagram, from) => {
      if (this.closed || datagram.length < 24) return;
      if (this.kcp === undefined) this.open(datagram.readUInt32LE(0), from);
      this.kcp?.input(datagram);
      this.collect();
    });
    this.timer = setInterval(() => this.tick(), tuning.interval);
  }

  static async listen(tuning: KcpTuning): Promise<{ peer: ReferenceKcpPeer; port: number }> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return { peer: new ReferenceKcpPeer(socket, tuning), port: socket.address().port };
  }

  static async connect(port: number, conv: number, tuning: KcpTuning): Promise<ReferenceKcpPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const peer = new ReferenceKcpPeer(socket, tuning);
    peer.open(conv, { address: '127.0.0.1', port });
    return peer;
  }

  private open(conv: number, remote: { address: string; port: number }): void {
    const kcp = new nodeKcp.KCP(conv);
    kcp.nodelay(this.tuning.nodelay, this.tuning.interval, this.tuning.resend, this.tuning.nc ? 1 : 0);
    kcp.wndsize(this.tuning.sndWnd, this.tuning.rcvWnd);
    kcp.setmtu(this.tuning.mtu);
    kcp.stream(1);
    kcp.output((data, size) => this.socket.send(data, 0, size, remote.port, remote.address));
    this.kcp = kcp;
    this.remote = remote;
  }

  /** Queues bytes to send; they enter C KCP as its send queue drains. */
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
      // ikcp refuses sends of 128+ segments, so hand it at most 32 at a time.
      const piece = 32 * (this.tuning.mtu - 24);
      if (chunk.length > piece) this.outgoing.unshift(chunk.subarray(piece));
      kcp.send(chunk.subarray(0, piece));
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
