import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { decodeAmf0, encodeAmf0 } from '../amf/amf0.js';
import { decodeAmf3 } from '../amf/amf3.js';
import { AmfError, type AmfValue } from '../amf/amf-value.js';
import { ChunkReader, DEFAULT_CHUNK_LIMITS, type ChunkReaderLimits } from './chunk-reader.js';
import { encodeChunks } from './chunk-writer.js';
import {
  c2AnswersS1, clientHandshakeStart, HANDSHAKE_SIZE, RTMP_VERSION, serverHandshakeResponse, sessionNonce,
} from './handshake.js';
import { ChunkStreamId, MessageType, RtmpProtocolError, UserControlEvent, type RtmpMessage } from './messages.js';

export interface RtmpCommand {
  name: string;
  transactionId: number;
  /** The command object (often null) followed by the other arguments. */
  args: AmfValue[];
  streamId: number;
}

export interface ConnectionEvents {
  /** The handshake finished (on a server, see c2AnswersS1 for whether the peer proved it received S1). */
  handshake: [];
  command: [RtmpCommand];
  /** Audio, video and data messages. */
  media: [RtmpMessage];
  /** The peer closed, or we closed it; `reason` says why. Emitted once. */
  close: [reason: string];
}

export interface ConnectionOptions {
  role: 'server' | 'client';
  limits?: ChunkReaderLimits;
  /** Chunk size we announce and send with. */
  outChunkSize?: number;
  /** Window acknowledgement size we ask the peer to use. */
  windowAckSize?: number;
}

type Phase = 'c0c1' | 'c2' | 's0s1s2' | 'open' | 'closed';

/**
 * One RTMP connection over any duplex byte stream (a TCP socket or a KCP
 * session): the handshake, the chunk stream in both directions and the
 * protocol control messages (chunk size, acknowledgements, abort, ping).
 * Commands and media surface as events; the server and client sessions give
 * them meaning. Any protocol violation closes the connection with a reason.
 */
export class RtmpConnection extends EventEmitter<ConnectionEvents> {
  readonly reader: ChunkReader;
  outChunkSize: number;
  private phase: Phase;
  private handshakeBuffer: Buffer = Buffer.alloc(0);
  private bytesReceived = 0;
  private lastAckSent = 0;
  private peerWindowAckSize = 0;
  private s1: Buffer | null = null;
  private c2Answered = false;
  private nonce: Buffer | undefined;
  closeReason: string | null = null;

  constructor(readonly transport: Duplex, private readonly options: ConnectionOptions) {
    super();
    this.reader = new ChunkReader(options.limits ?? DEFAULT_CHUNK_LIMITS);
    this.outChunkSize = options.outChunkSize ?? 4096;
    this.phase = options.role === 'server' ? 'c0c1' : 's0s1s2';
    transport.on('data', (data: Buffer) => this.onData(data));
    transport.on('end', () => this.close('peer closed the connection'));
    transport.on('close', () => this.close('connection closed'));
    transport.on('error', (err: Error) => this.close(`transport error: ${err.message}`));
    if (options.role === 'client') {
      transport.write(clientHandshakeStart());
    }
  }

  get isOpen(): boolean { return this.phase === 'open'; }
  get isClosed(): boolean { return this.phase === 'closed'; }
  /** Bytes queued in the transport, for backpressure decisions. */
  get queuedBytes(): number { return this.transport.writableLength; }
  get totalBytesReceived(): number { return this.bytesReceived; }
  /**
   * Server side: the client's C2 answered our S1, so it really receives what
   * we send to its address. TCP does not need this (its own handshake proved
   * that) and accepts any C2, as nginx-rtmp and SRS do; a UDP transport (KCP)
   * lifts its anti-amplification limit only when this is true.
   */
  get c2AnswersS1(): boolean { return this.c2Answered; }
  /** Digest of this session's S1 (see sessionNonce), on both ends once the handshake is done. */
  get serverNonce(): Buffer | undefined { return this.nonce; }

  private onData(data: Buffer): void {
    if (this.phase === 'closed') return;
    this.bytesReceived += data.length;
    try {
      if (this.phase !== 'open') {
        data = this.handshake(data);
        if (!this.isOpen || data.length === 0) return;
      }
      this.reader.push(data, (m) => this.onMessage(m));
      this.maybeAcknowledge();
    } catch (err) {
      const reason = err instanceof RtmpProtocolError || err instanceof AmfError
        ? err.message : `internal error: ${(err as Error).message}`;
      this.close(`protocol error: ${reason}`);
    }
  }

  /** Consumes handshake bytes; returns what follows the handshake (chunk data). */
  private handshake(data: Buffer): Buffer {
    this.handshakeBuffer = this.handshakeBuffer.length ? Buffer.concat([this.handshakeBuffer, data]) : data;
    const buf = this.handshakeBuffer;
    if (this.phase === 'c0c1') {
      if (buf.length < 1 + HANDSHAKE_SIZE) return Buffer.alloc(0);
      // Version 3 is RTMP; 6 is RTMPE, which we do not speak. Anything else is not RTMP.
      if (buf[0] !== RTMP_VERSION) throw new RtmpProtocolError(`unsupported RTMP version byte ${buf[0]}`);
      const response = serverHandshakeResponse(buf.subarray(1, 1 + HANDSHAKE_SIZE));
      this.s1 = response.subarray(1, 1 + HANDSHAKE_SIZE);
      this.transport.write(response);
      this.phase = 'c2';
      this.handshakeBuffer = buf.subarray(1 + HANDSHAKE_SIZE);
      return this.handshake(Buffer.alloc(0));
    }
    if (this.phase === 'c2') {
      if (buf.length < HANDSHAKE_SIZE) return Buffer.alloc(0);
      // Recorded, not enforced: the transport decides whether it needs the proof.
      this.c2Answered = c2AnswersS1(this.s1!, buf.subarray(0, HANDSHAKE_SIZE));
      this.nonce = sessionNonce(this.s1!);
      this.s1 = null;
      return this.finishHandshake(buf.subarray(HANDSHAKE_SIZE));
    }
    // client: S0 S1 S2
    if (buf.length < 1 + 2 * HANDSHAKE_SIZE) return Buffer.alloc(0);
    if (buf[0] !== RTMP_VERSION) throw new RtmpProtocolError(`server answered RTMP version ${buf[0]}`);
    const s1 = buf.subarray(1, 1 + HANDSHAKE_SIZE);
    this.nonce = sessionNonce(s1);
    this.transport.write(Buffer.from(s1)); // C2 echoes S1
    return this.finishHandshake(buf.subarray(1 + 2 * HANDSHAKE_SIZE));
  }

  private finishHandshake(rest: Buffer): Buffer {
    this.phase = 'open';
    this.handshakeBuffer = Buffer.alloc(0);
    this.sendControl(MessageType.SetChunkSize, this.outChunkSize);
    this.emit('handshake');
    return Buffer.from(rest);
  }

  private onMessage(m: RtmpMessage): void {
    switch (m.type) {
      case MessageType.SetChunkSize:
        this.requireLength(m, 4);
        this.reader.setChunkSize(m.payload.readUInt32BE(0));
        return;
      case MessageType.Abort:
        this.requireLength(m, 4);
        this.reader.abort(m.payload.readUInt32BE(0));
        return;
      case MessageType.Acknowledgement:
      case MessageType.SetPeerBandwidth:
        return; // we do not throttle on the peer's acknowledgements
      case MessageType.WindowAckSize:
        this.requireLength(m, 4);
        this.peerWindowAckSize = m.payload.readUInt32BE(0);
        return;
      case MessageType.UserControl:
        this.onUserControl(m);
        return;
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        this.onCommandMessage(m);
        return;
      case MessageType.Audio:
      case MessageType.Video:
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        this.emit('media', m);
        return;
      case MessageType.Aggregate:
        this.splitAggregate(m);
        return;
      default:
        return; // shared objects and unknown types are ignored, as other servers do
    }
  }

  private requireLength(m: RtmpMessage, n: number): void {
    if (m.payload.length < n) throw new RtmpProtocolError(`message type ${m.type} shorter than ${n} bytes`);
  }

  private onUserControl(m: RtmpMessage): void {
    this.requireLength(m, 2);
    const event = m.payload.readUInt16BE(0);
    if (event === UserControlEvent.PingRequest) {
      this.requireLength(m, 6);
      const pong = Buffer.alloc(6);
      pong.writeUInt16BE(UserControlEvent.PingResponse, 0);
      m.payload.copy(pong, 2, 2, 6);
      this.sendRaw(ChunkStreamId.Protocol, MessageType.UserControl, 0, 0, pong);
    }
  }

  private onCommandMessage(m: RtmpMessage): void {
    // AMF3 commands start with a format byte (0) and are otherwise AMF0 with avmplus switches.
    const body = m.type === MessageType.CommandAmf3 ? m.payload.subarray(1) : m.payload;
    const values = decodeAmf0(body);
    const [name, transactionId, ...args] = values;
    if (typeof name !== 'string') throw new RtmpProtocolError('command message without a command name');
    this.emit('command', { name, transactionId: typeof transactionId === 'number' ? transactionId : 0, args, streamId: m.streamId });
  }

  /** Aggregate messages hold FLV-like sub-messages; timestamps are relative to the first. */
  private splitAggregate(m: RtmpMessage): void {
    const p = m.payload;
    let offset = 0;
    let base: number | null = null;
    while (offset + 11 <= p.length) {
      const type = p[offset]!;
      const size = p.readUIntBE(offset + 1, 3);
      const ts = (p.readUIntBE(offset + 4, 3) | (p[offset + 7]! << 24)) >>> 0;
      if (offset + 11 + size + 4 > p.length) throw new RtmpProtocolError('aggregate sub-message overruns the message');
      base ??= ts;
      const payload = p.subarray(offset + 11, offset + 11 + size);
      this.onMessage({ type, timestamp: (m.timestamp + ts - base) >>> 0, streamId: m.streamId, payload });
      offset += 11 + size + 4;
    }
  }

  private maybeAcknowledge(): void {
    if (this.peerWindowAckSize > 0 && this.bytesReceived - this.lastAckSent >= this.peerWindowAckSize) {
      this.lastAckSent = this.bytesReceived;
      this.sendControl(MessageType.Acknowledgement, this.bytesReceived >>> 0);
    }
  }

  // ---- sending --------------------------------------------------------------

  sendRaw(csid: number, type: number, streamId: number, timestamp: number, payload: Buffer): void {
    if (this.phase === 'closed') return;
    this.transport.write(encodeChunks(csid, type, streamId, timestamp, payload, this.outChunkSize));
  }

  /** Writes an already chunk-encoded buffer (shared media encodings). */
  writeEncoded(buf: Buffer): void {
    if (this.phase !== 'closed') this.transport.write(buf);
  }

  /** Batches the writes until uncork() into one (see ViewerWriteBatch). */
  cork(): void {
    this.transport.cork();
  }

  uncork(): void {
    this.transport.uncork();
  }

  sendControl(type: MessageType, value: number): void {
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(value >>> 0);
    this.sendRaw(ChunkStreamId.Protocol, type, 0, 0, payload);
  }

  sendSetPeerBandwidth(size: number, limitType = 2): void {
    const payload = Buffer.allocUnsafe(5);
    payload.writeUInt32BE(size);
    payload[4] = limitType;
    this.sendRaw(ChunkStreamId.Protocol, MessageType.SetPeerBandwidth, 0, 0, payload);
  }

  sendUserControl(event: UserControlEvent, value: number): void {
    const payload = Buffer.allocUnsafe(6);
    payload.writeUInt16BE(event, 0);
    payload.writeUInt32BE(value >>> 0, 2);
    this.sendRaw(ChunkStreamId.Protocol, MessageType.UserControl, 0, 0, payload);
  }

  sendCommand(streamId: number, name: string, transactionId: number, ...args: AmfValue[]): void {
    this.sendRaw(ChunkStreamId.Command, MessageType.CommandAmf0, streamId, 0, encodeAmf0(name, transactionId, ...args));
  }

  sendData(streamId: number, ...values: AmfValue[]): void {
    this.sendRaw(ChunkStreamId.Data, MessageType.DataAmf0, streamId, 0, encodeAmf0(...values));
  }

  /** Closes the connection after flushing what is queued. Emits 'close' once. */
  close(reason: string): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closeReason = reason;
    this.transport.end();
    // A peer that never reads would keep a half-closed socket forever.
    const timer = setTimeout(() => this.transport.destroy(), 2000);
    timer.unref();
    this.transport.once('close', () => clearTimeout(timer));
    this.emit('close', reason);
  }

  /** Closes immediately without flushing. */
  destroy(reason: string): void {
    this.close(reason);
    this.transport.destroy();
  }
}

/** Decodes a data message (type 18 or 15) into AMF values. */
export function decodeDataMessage(m: RtmpMessage): AmfValue[] {
  if (m.type === MessageType.DataAmf3) {
    // A type-15 body is a format byte then AMF0 values (which may switch to AMF3), per the spec;
    // a few encoders write pure AMF3 instead, so fall back to that.
    try {
      return decodeAmf0(m.payload.subarray(1));
    } catch {
      return decodeAmf3(m.payload.subarray(1));
    }
  }
  return decodeAmf0(m.payload);
}
