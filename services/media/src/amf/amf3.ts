import { AmfError, MAX_AMF_DEPTH, setAmfProperty, type AmfObject, type AmfValue } from './amf-value.js';

/**
 * AMF3 decoding (Adobe "AMF 3 Specification"). RTMP peers send AMF3 inside
 * AMF0 through the avmplus-object marker (0x11), in AMF3 data messages
 * (type 15) and AMF3 commands (type 17). We decode everything a peer can put
 * in metadata or command arguments, including the string, object and trait
 * reference tables; externalizable objects cannot be decoded without knowing
 * the class and are refused.
 */

const enum Marker {
  Undefined = 0x00,
  Null = 0x01,
  False = 0x02,
  True = 0x03,
  Integer = 0x04,
  Double = 0x05,
  String = 0x06,
  XmlDoc = 0x07,
  Date = 0x08,
  Array = 0x09,
  Object = 0x0a,
  Xml = 0x0b,
  ByteArray = 0x0c,
  VectorInt = 0x0d,
  VectorUint = 0x0e,
  VectorDouble = 0x0f,
  VectorObject = 0x10,
  Dictionary = 0x11,
}

interface Traits {
  dynamic: boolean;
  names: string[];
}

class Amf3Reader {
  readonly strings: string[] = [];
  readonly objects: AmfValue[] = [];
  readonly traits: Traits[] = [];

  constructor(readonly buf: Buffer, public offset: number) {}

  need(n: number): void {
    if (n < 0 || this.offset + n > this.buf.length) throw new AmfError(`AMF3 value truncated at offset ${this.offset}`);
  }

  u8(): number { this.need(1); return this.buf[this.offset++]!; }

  /** Variable-length unsigned 29-bit integer. */
  u29(): number {
    let value = 0;
    for (let i = 0; i < 3; i++) {
      const b = this.u8();
      value = (value << 7) | (b & 0x7f);
      if ((b & 0x80) === 0) return value;
    }
    return ((value << 8) | this.u8()) >>> 0;
  }

  f64(): number { this.need(8); const v = this.buf.readDoubleBE(this.offset); this.offset += 8; return v; }

  bytes(length: number): Buffer {
    this.need(length);
    const b = this.buf.subarray(this.offset, this.offset + length);
    this.offset += length;
    return b;
  }

  utf8(length: number): string {
    return this.bytes(length).toString('utf8');
  }

  string(): string {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.strings, header >>> 1, 'string');
    const s = this.utf8(header >>> 1);
    if (s !== '') this.strings.push(s); // the empty string is never added to the table
    return s;
  }

  ref<T>(table: T[], index: number, what: string): T {
    if (index >= table.length) throw new AmfError(`AMF3 ${what} reference ${index} out of range`);
    return table[index]!;
  }

  /** Guards element counts against the bytes left, so a forged count cannot allocate gigabytes. */
  count(n: number, bytesPerItem: number): number {
    if (n * bytesPerItem > this.buf.length - this.offset) throw new AmfError(`AMF3 count ${n} exceeds message`);
    return n;
  }

  value(depth: number): AmfValue {
    if (depth > MAX_AMF_DEPTH) throw new AmfError('AMF3 nesting too deep');
    const marker = this.u8();
    switch (marker) {
      case Marker.Undefined: return undefined;
      case Marker.Null: return null;
      case Marker.False: return false;
      case Marker.True: return true;
      case Marker.Integer: {
        const v = this.u29();
        return v & 0x10000000 ? v - 0x20000000 : v; // sign-extend 29 bits
      }
      case Marker.Double: return this.f64();
      case Marker.String: return this.string();
      case Marker.XmlDoc:
      case Marker.Xml: return this.referencedOr((length) => this.utf8(length));
      case Marker.Date: return this.referencedOr(() => new Date(this.f64()));
      // Byte arrays surface as arrays of octets: rare in RTMP, and it keeps AmfValue JSON-like.
      case Marker.ByteArray: return this.referencedOr((length) => [...this.bytes(length)]);
      case Marker.Array: return this.array(depth);
      case Marker.Object: return this.object(depth);
      case Marker.VectorInt:
      case Marker.VectorUint:
      case Marker.VectorDouble: return this.numberVector(marker);
      case Marker.VectorObject: return this.objectVector(depth);
      case Marker.Dictionary: return this.dictionary(depth);
      default: throw new AmfError(`unsupported AMF3 type marker 0x${marker.toString(16)}`);
    }
  }

  /** Reads the U29O-ref header shared by complex types; returns a referenced value or reads a new one. */
  referencedOr(read: (length: number) => AmfValue): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.objects, header >>> 1, 'object');
    const value = read(header >>> 1);
    this.objects.push(value);
    return value;
  }

  array(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.objects, header >>> 1, 'object');
    const denseCount = this.count(header >>> 1, 1);
    const assoc: AmfObject = {};
    const result: AmfValue[] = [];
    this.objects.push(result);
    for (let key = this.string(); key !== ''; key = this.string()) setAmfProperty(assoc, key, this.value(depth + 1));
    for (let i = 0; i < denseCount; i++) result.push(this.value(depth + 1));
    if (Object.keys(assoc).length === 0) return result;
    // Mixed arrays become objects: dense items under their index.
    result.forEach((v, i) => { assoc[String(i)] = v; });
    this.objects[this.objects.indexOf(result)] = assoc;
    return assoc;
  }

  object(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.objects, header >>> 1, 'object');
    let traits: Traits;
    if ((header & 2) === 0) {
      traits = this.ref(this.traits, header >>> 2, 'traits');
    } else {
      if (header & 4) throw new AmfError('AMF3 externalizable objects are not supported');
      const dynamic = (header & 8) !== 0;
      const sealedCount = this.count(header >>> 4, 1);
      this.string(); // class name
      const names: string[] = [];
      for (let i = 0; i < sealedCount; i++) names.push(this.string());
      traits = { dynamic, names };
      this.traits.push(traits);
    }
    const obj: AmfObject = {};
    this.objects.push(obj);
    for (const name of traits.names) setAmfProperty(obj, name, this.value(depth + 1));
    if (traits.dynamic) {
      for (let key = this.string(); key !== ''; key = this.string()) setAmfProperty(obj, key, this.value(depth + 1));
    }
    return obj;
  }

  numberVector(marker: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.objects, header >>> 1, 'object');
    const width = marker === Marker.VectorDouble ? 8 : 4;
    const n = this.count(header >>> 1, width);
    this.u8(); // fixed-length flag
    this.need(n * width);
    const items: number[] = [];
    for (let i = 0; i < n; i++) {
      const at = this.offset + i * width;
      items.push(
        marker === Marker.VectorDouble ? this.buf.readDoubleBE(at)
          : marker === Marker.VectorInt ? this.buf.readInt32BE(at) : this.buf.readUInt32BE(at),
      );
    }
    this.offset += n * width;
    this.objects.push(items);
    return items;
  }

  objectVector(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.objects, header >>> 1, 'object');
    const n = this.count(header >>> 1, 1);
    this.u8(); // fixed-length flag
    this.string(); // element type name
    const items: AmfValue[] = [];
    this.objects.push(items);
    for (let i = 0; i < n; i++) items.push(this.value(depth + 1));
    return items;
  }

  dictionary(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.ref(this.objects, header >>> 1, 'object');
    const n = this.count(header >>> 1, 2);
    this.u8(); // weak-keys flag
    const obj: AmfObject = {};
    this.objects.push(obj);
    for (let i = 0; i < n; i++) {
      const key = this.value(depth + 1);
      setAmfProperty(obj, String(key), this.value(depth + 1));
    }
    return obj;
  }
}

/**
 * Decodes one AMF3 value at `offset`, returning it and the offset after it.
 * Each call starts fresh reference tables, as each avmplus-object switch does.
 */
export function decodeAmf3Value(buf: Buffer, offset: number): { value: AmfValue; offset: number } {
  const r = new Amf3Reader(buf, offset);
  const value = r.value(0);
  return { value, offset: r.offset };
}

/** Decodes consecutive AMF3 values sharing one set of reference tables. */
export function decodeAmf3(buf: Buffer): AmfValue[] {
  const r = new Amf3Reader(buf, 0);
  const values: AmfValue[] = [];
  while (r.offset < buf.length) values.push(r.value(0));
  return values;
}
