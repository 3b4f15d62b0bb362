import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { AmfObject, AmfValue } from '../amf/amf-value.js';
import { MediaPacket } from '../hub/media-packet.js';
import { RtmpConnection, type RtmpCommand } from './connection.js';
import { MessageType, UserControlEvent } from './messages.js';
import { RtmpChunkEncoding } from './rtmp-viewer.js';

export interface RtmpClientEvents {
  /** A media or metadata packet of the stream being played. */
  packet: [MediaPacket];
  /** An onStatus from the server (e.g. NetStream.Play.UnpublishNotify). */
  status: [code: string, info: AmfObject];
  close: [reason: string];
}

export interface RtmpClientOptions {
  /** Application name, the first path segment of an RTMP URL ("live"). */
  app: string;
  /** The tcUrl to announce (servers log it; some route on it). */
  tcUrl: string;
  /** How long to wait for each reply. */
  timeoutMs?: number;
  /** Extra properties for the connect command object (relays put their credentials here). */
  connectExtras?: AmfObject;
}

/**
 * An RTMP client over any byte stream: TCP, or a KCP session. Used by the
 * KCP bridges, the relays between servers, tests and benchmarks. It
 * publishes packets it is given, or plays a stream and emits its packets.
 */
export class RtmpClient extends EventEmitter<RtmpClientEvents> {
  private transactionId = 1;
  private readonly pending = new Map<number, { resolve: (v: AmfValue[]) => void; reject: (e: Error) => void }>();
  private statusWaiter: ((code: string, info: AmfObject) => void) | null = null;
  private streamId = 0;
  /** The encoding of the stream being published, made when its stream id is known. */
  private encoding: RtmpChunkEncoding | null = null;
  readonly connection: RtmpConnection;
  private readonly timeoutMs: number;

  private constructor(transport: Duplex, private readonly options: RtmpClientOptions) {
    super();
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.connection = new RtmpConnection(transport, { role: 'client' });
    this.connection.on('command', (c) => this.onCommand(c));
    this.connection.on('media', (m) => {
      if (m.type === MessageType.DataAmf3) return;
      this.emit('packet', new MediaPacket(m.type === MessageType.DataAmf0 ? 18 : m.type, m.timestamp, m.payload));
    });
    this.connection.on('close', (reason) => {
      for (const p of this.pending.values()) p.reject(new Error(`connection closed: ${reason}`));
      this.pending.clear();
      this.emit('close', reason);
    });
  }

  /** Handshakes and sends `connect` over `transport`; resolves once the server accepted. */
  static async connect(transport: Duplex, options: RtmpClientOptions): Promise<RtmpClient> {
    const client = new RtmpClient(transport, options);
    try {
      await client.withTimeout(new Promise<void>((resolve, reject) => {
        client.connection.once('handshake', () => {
          // Over KCP: the server has our C2 on its way, so it no longer needs our padding (see KcpStream).
          (transport as { markVerified?: () => void }).markVerified?.();
          resolve();
        });
        client.connection.once('close', (r) => reject(new Error(`connection closed during handshake: ${r}`)));
      }), 'handshake');
      await client.call('connect', {
        app: options.app, type: 'nonprivate', flashVer: 'FMLE/3.0 (compatible; Bridgecast)',
        tcUrl: options.tcUrl, fpad: false, capabilities: 15, audioCodecs: 3191, videoCodecs: 252, videoFunction: 1,
        ...options.connectExtras,
      });
    } catch (err) {
      client.close('connect failed');
      throw err;
    }
    return client;
  }

  /** Opens a TCP connection to rtmp://host:port/app and connects. */
  static async connectTcp(host: string, port: number, options: Omit<RtmpClientOptions, 'tcUrl'> & { tcUrl?: string }): Promise<RtmpClient> {
    const socket = net.connect({ host, port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return RtmpClient.connect(socket, { ...options, tcUrl: options.tcUrl ?? `rtmp://${host}:${port}/${options.app}` });
  }

  /** createStream + publish; resolves on NetStream.Publish.Start, rejects with the server's refusal. */
  async publish(name: string): Promise<void> {
    this.streamId = await this.createStream();
    const status = this.waitStatus();
    this.connection.sendCommand(this.streamId, 'publish', 0, null, name, 'live');
    const { code, info } = await status;
    if (code !== 'NetStream.Publish.Start') throw new Error(`publish refused: ${code} ${String(info.description ?? '')}`);
  }

  /** createStream + play; resolves on NetStream.Play.Start. Packets follow as 'packet' events. */
  async play(name: string): Promise<void> {
    this.streamId = await this.createStream();
    this.connection.sendControl(MessageType.WindowAckSize, 2_500_000);
    const status = this.waitStatus((code) => code !== 'NetStream.Play.Reset');
    this.connection.sendCommand(this.streamId, 'play', 0, null, name, -1000);
    const buffer = Buffer.alloc(10);
    buffer.writeUInt16BE(UserControlEvent.SetBufferLength, 0);
    buffer.writeUInt32BE(this.streamId, 2);
    buffer.writeUInt32BE(1000, 6);
    this.connection.sendRaw(2, MessageType.UserControl, 0, 0, buffer);
    const { code, info } = await status;
    if (code !== 'NetStream.Play.Start') throw new Error(`play refused: ${code} ${String(info.description ?? '')}`);
  }

  /** Sends one packet of the stream being published (shares the cached chunk encoding). */
  sendPacket(packet: MediaPacket): void {
    if (this.encoding?.streamId !== this.streamId) this.encoding = new RtmpChunkEncoding(this.connection.outChunkSize, this.streamId);
    this.connection.writeEncoded(this.encoding.of(packet));
  }

  /** Bytes waiting in the transport: publishers use it for backpressure. */
  get queuedBytes(): number { return this.connection.queuedBytes; }

  close(reason = 'client closed'): void {
    if (this.streamId && this.connection.isOpen) this.connection.sendCommand(this.streamId, 'deleteStream', 0, null, this.streamId);
    this.connection.close(reason);
  }

  private async createStream(): Promise<number> {
    const [, id] = await this.call('createStream', null);
    if (typeof id !== 'number') throw new Error('createStream returned no stream id');
    return id;
  }

  private call(name: string, ...args: AmfValue[]): Promise<AmfValue[]> {
    const id = this.transactionId++;
    const reply = new Promise<AmfValue[]>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.connection.sendCommand(0, name, id, ...args);
    return this.withTimeout(reply, name).finally(() => this.pending.delete(id));
  }

  private waitStatus(accept: (code: string) => boolean = () => true): Promise<{ code: string; info: AmfObject }> {
    return this.withTimeout(new Promise((resolve) => {
      this.statusWaiter = (code, info) => {
        if (!accept(code)) return;
        this.statusWaiter = null;
        resolve({ code, info });
      };
    }), 'status');
  }

  private onCommand(c: RtmpCommand): void {
    if (c.name === '_result' || c.name === '_error') {
      const pending = this.pending.get(c.transactionId);
      if (!pending) return;
      if (c.name === '_result') pending.resolve(c.args);
      else pending.reject(new Error(`server refused: ${JSON.stringify(c.args[1] ?? null)}`));
      return;
    }
    if (c.name === 'onStatus') {
      const info = (c.args[1] ?? {}) as AmfObject;
      const code = typeof info.code === 'string' ? info.code : '';
      this.emit('status', code, info);
      this.statusWaiter?.(code, info);
    }
  }

  private withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout;
    return Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), this.timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }
}
