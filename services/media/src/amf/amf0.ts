import { decodeAmf3Value } from './amf3.js';
import { AmfBudget, AmfError, MAX_AMF_DEPTH, setAmfProperty, type AmfObject, type AmfValue } from './amf-value.js';

/**
 * AMF0 (Adobe "Action Message Format AMF0" specification), the encoding of
 * RTMP command and data messages. Decoding is strict: an unknown marker or a
 * length past the end of the buffer throws AmfError.
 */

const enum Marker {
  Number = 0x00,
  Boolean = 0x01,
  String = 0x02,
  Object = 0x03,
  MovieClip = 0x04,
  Null = 0x05,
  Undefined = 0x06,
  Reference = 0x07,
  EcmaArray = 0x08,
  ObjectEnd = 0x09,
  StrictArray = 0x0a,
  Date = 0x0b,
  LongString = 0x0c,
  Unsupported = 0x0d,
  XmlDocument = 0x0f,
  TypedObject = 0x10,
  AvmPlus = 0x11,
}

class Reader {
  offset = 0;
  constructor(readonly buf: Buffer, readonly budget: AmfBudget) {}

  need(n: number): void {
    if (this.offset + n > this.buf.length) throw new AmfError(`AMF0 value truncated at offset ${this.offset}`);
  }
  u8(): number { this.need(1); return this.buf[this.offset++]!; }
  u16(): number { this.need(2); const v = this.buf.readUInt16BE(this.offset); this.offset += 2; return v; }
  u32(): number { this.need(4); const v = this.buf.readUInt32BE(this.offset); this.offset += 4; return v; }
  f64(): number { this.need(8); const v = this.buf.readDoubleBE(this.offset); this.offset += 8; return v; }
  utf8(length: number): string {
    this.need(length);
    const s = this.buf.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return s;
  }
}

function readProperties(r: Reader, depth: number, target: AmfObject): AmfObject {
  for (;;) {
    const key = r.utf8(r.u16());
    if (key === '') {
      // Empty key followed by the object-end marker closes the object.
      const marker = r.u8();
      if (marker === Marker.ObjectEnd) return target;
      throw new AmfError(`AMF0 object key is empty but marker 0x${marker.toString(16)} is not object-end`);
    }
    setAmfProperty(target, key, readValue(r, depth + 1));
  }
}

function readValue(r: Reader, depth: number): AmfValue {
  if (depth > MAX_AMF_DEPTH) throw new AmfError('AMF0 nesting too deep');
  const marker = r.u8();
  switch (marker) {
    case Marker.Number: return r.f64();
    case Marker.Boolean: return r.u8() !== 0;
    case Marker.String: return r.utf8(r.u16());
    case Marker.LongString:
    case Marker.XmlDocument: return r.utf8(r.u32());
    case Marker.Object: return readProperties(r, depth, {});
    case Marker.TypedObject: {
      r.utf8(r.u16()); // class name: irrelevant for RTMP
      return readProperties(r, depth, {});
    }
    case Marker.EcmaArray: {
      r.u32(); // advisory count; the list is terminated like an object
      return readProperties(r, depth, {});
    }
    case Marker.StrictArray: {
      const count = r.u32();
      // Each element needs at least one byte: refuse counts the buffer cannot hold.
      if (count > r.buf.length - r.offset) throw new AmfError(`AMF0 strict array count ${count} exceeds message`);
      const items: AmfValue[] = [];
      for (let i = 0; i < count; i++) items.push(readValue(r, depth + 1));
      return items;
    }
    case Marker.Date: {
      const ms = r.f64();
      r.u16(); // time zone, reserved: always 0
      return new Date(ms);
    }
    case Marker.Null: return null;
    case Marker.Undefined:
    case Marker.Unsupported: return undefined;
    case Marker.AvmPlus: {
      const { value, offset } = decodeAmf3Value(r.buf, r.offset, r.budget);
      r.offset = offset;
      return value;
    }
    case Marker.Reference:
    case Marker.MovieClip:
    default:
      throw new AmfError(`unsupported AMF0 type marker 0x${marker.toString(16)}`);
  }
}

/** Decodes every AMF0 value in `buf` (an RTMP command or data message body). */
export function decodeAmf0(buf: Buffer): AmfValue[] {
  const r = new Reader(buf, new AmfBudget(buf.length));
  const values: AmfValue[] = [];
  while (r.offset < buf.length) values.push(readValue(r, 0));
  return values;
}

// ---- encoding ---------------------------------------------------------------

function stringBytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

function encodeKey(parts: Buffer[], key: string): void {
  const bytes = stringBytes(key);
  const len = Buffer.allocUnsafe(2);
  len.writeUInt16BE(bytes.length);
  parts.push(len, bytes);
}

function encodeValue(parts: Buffer[], value: AmfValue, depth: number): void {
  if (depth > MAX_AMF_DEPTH) throw new AmfError('AMF0 nesting too deep');
  if (value === null) {
    parts.push(Buffer.from([Marker.Null]));
  } else if (value === undefined) {
    parts.push(Buffer.from([Marker.Undefined]));
  } else if (typeof value === 'number') {
    const b = Buffer.allocUnsafe(9);
    b[0] = Marker.Number;
    b.writeDoubleBE(value, 1);
    parts.push(b);
  } else if (typeof value === 'boolean') {
    parts.push(Buffer.from([Marker.Boolean, value ? 1 : 0]));
  } else if (typeof value === 'string') {
    const bytes = stringBytes(value);
    if (bytes.length > 0xffff) {
      const h = Buffer.allocUnsafe(5);
      h[0] = Marker.LongString;
      h.writeUInt32BE(bytes.length, 1);
      parts.push(h, bytes);
    } else {
      const h = Buffer.allocUnsafe(3);
      h[0] = Marker.String;
      h.writeUInt16BE(bytes.length, 1);
      parts.push(h, bytes);
    }
  } else if (value instanceof Date) {
    const b = Buffer.alloc(11);
    b[0] = Marker.Date;
    b.writeDoubleBE(value.getTime(), 1);
    parts.push(b);
  } else if (Array.isArray(value)) {
    const h = Buffer.allocUnsafe(5);
    h[0] = Marker.StrictArray;
    h.writeUInt32BE(value.length, 1);
    parts.push(h);
    for (const item of value) encodeValue(parts, item, depth + 1);
  } else {
    parts.push(Buffer.from([Marker.Object]));
    for (const [key, item] of Object.entries(value)) {
      encodeKey(parts, key);
      encodeValue(parts, item, depth + 1);
    }
    parts.push(Buffer.from([0, 0, Marker.ObjectEnd]));
  }
}

/** Encodes values as consecutive AMF0 values. */
export function encodeAmf0(...values: AmfValue[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) encodeValue(parts, v, 0);
  return Buffer.concat(parts);
}

/** Encodes an object as an AMF0 ECMA array (what onMetaData traditionally carries). */
export function encodeAmf0EcmaArray(obj: AmfObject): Buffer {
  const h = Buffer.allocUnsafe(5);
  h[0] = Marker.EcmaArray;
  h.writeUInt32BE(Object.keys(obj).length, 1);
  const parts: Buffer[] = [h];
  for (const [key, item] of Object.entries(obj)) {
    encodeKey(parts, key);
    encodeValue(parts, item, 1);
  }
  parts.push(Buffer.from([0, 0, Marker.ObjectEnd]));
  return Buffer.concat(parts);
}
