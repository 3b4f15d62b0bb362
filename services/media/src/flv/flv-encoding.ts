import type { MediaPacket } from '../hub/media-packet.js';

/** FLV file header + PreviousTagSize0, announcing which track types follow. */
export function flvHeader(hasAudio: boolean, hasVideo: boolean): Buffer {
  const header = Buffer.from([0x46, 0x4c, 0x56, 0x01, 0, 0, 0, 0, 9, 0, 0, 0, 0]);
  header[4] = (hasAudio ? 4 : 0) | (hasVideo ? 1 : 0);
  return header;
}

/** Encodes one packet as an FLV tag (header + body + PreviousTagSize). */
export function encodeFlvTag(type: number, timestamp: number, body: Buffer): Buffer {
  const tag = Buffer.allocUnsafe(11 + body.length + 4);
  tag[0] = type;
  tag.writeUIntBE(body.length, 1, 3);
  tag.writeUIntBE(timestamp & 0xffffff, 4, 3);
  tag[7] = (timestamp >>> 24) & 0xff; // TimestampExtended: the upper 8 bits
  tag.writeUIntBE(0, 8, 3);
  body.copy(tag, 11);
  tag.writeUInt32BE(11 + body.length, 11 + body.length);
  return tag;
}

/** The FLV tag of a packet, encoded once and shared by every HTTP-FLV viewer. */
export function flvEncoding(packet: MediaPacket): Buffer {
  return packet.encodedAs('flv', (p) => [encodeFlvTag(p.type, p.timestamp, p.payload)])[0]!;
}
