/**
 * A bare TCP RTMP peer for tests that must misbehave or control every byte:
 * connect, do (or skip) the simple handshake, then write whatever chunks or
 * garbage the test wants and watch for the server closing the connection.
 */
import net from 'node:net';
import { encodeAmf0 } from '@bridgecast/media/amf/amf0.js';
import type { AmfValue } from '@bridgecast/media/amf/amf-value.js';
import { encodeChunks } from '@bridgecast/media/rtmp/chunk-writer.js';
import { clientHandshakeStart, HANDSHAKE_SIZE } from '@bridgecast/media/rtmp/handshake.js';

export interface RawRtmpPeer {
  socket: net.Socket;
  /** Resolves when the server closes (or resets) the connection, with the ms since connecting. */
  closed: Promise<number>;
  /** Bytes received after the handshake. */
  received(): Buffer;
}

/** Connects to 127.0.0.1:`port`; with `handshake`, completes the simple handshake first. */
export async function connectRawRtmp(port: number, handshake = true): Promise<RawRtmpPeer> {
  const started = Date.now();
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  socket.on('error', () => {}); // a reset is one way the server closes us
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffered = Buffer.alloc(0);
  let handshakeDone: () => void = () => {};
  const afterHandshake = new Promise<void>((resolve) => { handshakeDone = resolve; });
  socket.on('data', (d: Buffer) => {
    buffered = Buffer.concat([buffered, d]);
    if (buffered.length >= 1 + 2 * HANDSHAKE_SIZE) handshakeDone();
  });
  if (handshake) {
    socket.write(clientHandshakeStart());
    await Promise.race([afterHandshake, closed]);
    socket.write(buffered.subarray(1, 1 + HANDSHAKE_SIZE)); // C2 echoes S1
  }
  return {
    socket,
    closed,
    received: () => buffered.subarray(handshake ? 1 + 2 * HANDSHAKE_SIZE : 0),
  };
}

/** One RTMP message as chunks of `chunkSize` (128, the default, unless a Set Chunk Size was sent). */
export function rawMessage(type: number, payload: Buffer, options: { csid?: number; streamId?: number; timestamp?: number; chunkSize?: number } = {}): Buffer {
  return encodeChunks(options.csid ?? 3, type, options.streamId ?? 0, options.timestamp ?? 0, payload, options.chunkSize ?? 128);
}

/** A Set Chunk Size message with any 32-bit value (including illegal ones). */
export function rawSetChunkSize(size: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(size >>> 0);
  return rawMessage(1, payload, { csid: 2 });
}

/** An AMF0 command message. */
export function rawCommand(name: string, transactionId: number, ...args: AmfValue[]): Buffer {
  return rawMessage(20, encodeAmf0(name, transactionId, ...args));
}
