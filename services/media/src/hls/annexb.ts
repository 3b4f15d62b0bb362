/**
 * From the length-prefixed NAL units of FLV (AVCC/HVCC) to the start-code
 * form (Annex B) MPEG-TS carries, with the parameter sets taken from the
 * decoder configuration record so every keyframe can be decoded on its own.
 */

export type NalCodec = 'h264' | 'hevc';

export interface DecoderConfig {
  codec: NalCodec;
  /** Bytes of each NAL unit's length prefix in coded frames (1, 2 or 4). */
  lengthSize: number;
  /** SPS/PPS (H.264) or VPS/SPS/PPS (HEVC) NAL units, in the order a decoder needs them. */
  parameterSets: Buffer[];
}

export const START_CODE = Buffer.from([0, 0, 0, 1]);
/** Access unit delimiters (with start code): H.264 type 9 "any slice type"; HEVC type 35. */
export const ACCESS_UNIT_DELIMITER: Record<NalCodec, Buffer> = {
  h264: Buffer.from([0, 0, 0, 1, 0x09, 0xf0]),
  hevc: Buffer.from([0, 0, 0, 1, 0x46, 0x01, 0x50]),
};

/** NAL unit type of the first byte(s) of a NAL unit. */
export function nalType(codec: NalCodec, nal: Buffer): number {
  return codec === 'h264' ? nal[0]! & 0x1f : (nal[0]! >> 1) & 0x3f;
}

export function isAccessUnitDelimiter(codec: NalCodec, type: number): boolean {
  return type === (codec === 'h264' ? 9 : 35);
}

/** The SPS NAL type: a frame that carries its own is decodable without the configuration record's. */
export function isSequenceParameterSet(codec: NalCodec, type: number): boolean {
  return type === (codec === 'h264' ? 7 : 33);
}

/** Parses an AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1); null if malformed. */
export function parseAvcc(record: Buffer): DecoderConfig | null {
  if (record.length < 7 || record[0] !== 1) return null;
  const lengthSize = (record[4]! & 0x03) + 1;
  const parameterSets: Buffer[] = [];
  let pos = 5;
  for (const countMask of [0x1f, 0xff]) {
    if (pos >= record.length) return null;
    const count = record[pos++]! & countMask;
    for (let i = 0; i < count; i++) {
      if (pos + 2 > record.length) return null;
      const len = record.readUInt16BE(pos);
      pos += 2;
      if (pos + len > record.length) return null;
      parameterSets.push(record.subarray(pos, pos + len));
      pos += len;
    }
  }
  return lengthSize === 3 ? null : { codec: 'h264', lengthSize, parameterSets };
}

/** Parses an HEVCDecoderConfigurationRecord (ISO 14496-15 8.3.3.1); null if malformed. */
export function parseHvcc(record: Buffer): DecoderConfig | null {
  if (record.length < 23 || record[0] !== 1) return null;
  const lengthSize = (record[21]! & 0x03) + 1;
  const arrays = record[22]!;
  const byType = new Map<number, Buffer[]>();
  let pos = 23;
  for (let a = 0; a < arrays; a++) {
    if (pos + 3 > record.length) return null;
    const type = record[pos]! & 0x3f;
    const count = record.readUInt16BE(pos + 1);
    pos += 3;
    for (let i = 0; i < count; i++) {
      if (pos + 2 > record.length) return null;
      const len = record.readUInt16BE(pos);
      pos += 2;
      if (pos + len > record.length) return null;
      if (!byType.has(type)) byType.set(type, []);
      byType.get(type)!.push(record.subarray(pos, pos + len));
      pos += len;
    }
  }
  // VPS, SPS, PPS first (decoders need them in that order), then any SEI the record carries.
  const order = [32, 33, 34, ...[...byType.keys()].filter((t) => t < 32 || t > 34)];
  const parameterSets = order.flatMap((t) => byType.get(t) ?? []);
  return lengthSize === 3 ? null : { codec: 'hevc', lengthSize, parameterSets };
}

/**
 * Calls `onNal` for each length-prefixed NAL unit in `data` (views, no copy).
 * Returns false if a length runs past the end (the rest is ignored).
 */
export function forEachNal(data: Buffer, lengthSize: number, onNal: (nal: Buffer) => void): boolean {
  let pos = 0;
  while (pos + lengthSize <= data.length) {
    const len = data.readUIntBE(pos, lengthSize);
    pos += lengthSize;
    if (len === 0) continue;
    if (pos + len > data.length) return false;
    onNal(data.subarray(pos, pos + len));
    pos += len;
  }
  return pos === data.length;
}
