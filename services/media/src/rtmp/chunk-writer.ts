/**
 * Encodes RTMP messages into chunks. Every message starts with a type-0
 * header (absolute timestamp, full length/type/stream id): it costs a few
 * bytes more than delta headers but makes the encoding of a message
 * independent of what was sent before on that connection, which is what
 * lets one encoding of a media packet be written to every viewer.
 */

function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

/** Size in bytes of the encoded message. */
export function chunkedLength(payloadLength: number, csid: number, timestamp: number, chunkSize: number): number {
  const basic = csid < 64 ? 1 : csid < 320 ? 2 : 3;
  const extended = timestamp >= 0xffffff ? 4 : 0;
  const chunks = Math.max(1, Math.ceil(payloadLength / chunkSize));
  return basic + 11 + extended + payloadLength + (chunks - 1) * (basic + extended);
}

/** Encodes one message into a single buffer of chunks. */
export function encodeChunks(
  csid: number,
  type: number,
  streamId: number,
  timestamp: number,
  payload: Buffer,
  chunkSize: number,
): Buffer {
  timestamp = timestamp >>> 0;
  const out = Buffer.allocUnsafe(chunkedLength(payload.length, csid, timestamp, chunkSize));
  const extended = timestamp >= 0xffffff;
  const first = basicHeader(0, csid);
  const continuation = basicHeader(3, csid);
  let p = first.copy(out, 0);
  out.writeUIntBE(extended ? 0xffffff : timestamp, p, 3);
  out.writeUIntBE(payload.length, p + 3, 3);
  out[p + 6] = type;
  out.writeUInt32LE(streamId, p + 7);
  p += 11;
  if (extended) p = out.writeUInt32BE(timestamp, p);
  for (let offset = 0; ; ) {
    const end = Math.min(offset + chunkSize, payload.length);
    p += payload.copy(out, p, offset, end);
    offset = end;
    if (offset >= payload.length) break;
    p += continuation.copy(out, p);
    // Type-3 chunks repeat the extended timestamp when the message has one.
    if (extended) p = out.writeUInt32BE(timestamp, p);
  }
  return out;
}
