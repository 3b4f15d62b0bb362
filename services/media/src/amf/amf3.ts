import { AmfBudget, AmfError, MAX_AMF_DEPTH, setAmfProperty, type AmfObject, type AmfValue } from './amf-value.js';

/**
 * AMF3 decoding (Adobe "AMF 3 Specification"). RTMP peers send AMF3 inside
 * AMF0 through the avmplus-object marker (0x11), in AMF3 data messages
 * (type 15) and AMF3 commands (type 17). We decode everything a peer can put
 * in metadata or command arguments, including the string, object and trait
 * reference tables; externalizable objects cannot be decoded without knowing
 * the class and are refused.
 *
 * References are where a few bytes become many values, so decoding is
 * charged against the message's AmfBudget: one unit per value, one per 64
 * characters of a string, and a referenced value again its whole cost. A
 * reference to an object still being decoded (a cycle) is refused: no RTMP
 * peer needs one, and every consumer would walk it until the depth limit.
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
  /** What the member names cost each object that uses these traits. */
  namesCost: number;
}

/** The cost of an object-table entry whose members are still being read. */
const IN_PROGRESS = -1;

/** Strings cost by length, so a long one repeated by reference is charged like the copies it makes. */
function stringCost(s: string): number {
  return 1 + (s.length >>> 6);
}

class Amf3Reader {
  readonly strings: string[] = [];
  readonly objects: AmfValue[] = [];
  /** Budget units each object-table entry cost to decode, charged again for every reference to it. */
  readonly objectCosts: number[] = [];
  readonly traits: Traits[] = [];

  constructor(readonly buf: Buffer, public offset: number, readonly budget: AmfBudget) {}

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
    const s = (header & 1) === 0 ? this.ref(this.strings, header >>> 1, 'string') : this.utf8(header >>> 1);
    this.budget.spend(stringCost(s));
    if ((header & 1) === 1 && s !== '') this.strings.push(s); // the empty string is never added to the table
    return s;
  }

  ref<T>(table: T[], index: number, what: string): T {
    if (index >= table.length) throw new AmfError(`AMF3 ${what} reference ${index} out of range`);
    return table[index]!;
  }

  /** A reference to a complete object-table entry, charged what the entry cost. */
  objectRef(index: number): AmfValue {
    const value = this.ref(this.objects, index, 'object');
    const cost = this.objectCosts[index]!;
    if (cost === IN_PROGRESS) throw new AmfError(`AMF3 object refers to itself or an enclosing object (reference ${index})`);
    this.budget.spend(cost);
    return value;
  }

  /** Enters a complex value in the object table before its members are read (they may refer to earlier entries). */
  begin(value: AmfValue): number {
    this.objectCosts.push(IN_PROGRESS);
    return this.objects.push(value) - 1;
  }

  /** Records what the entry cost, from the budget spent since `spentBefore`. */
  finish(index: number, spentBefore: number): void {
    this.objectCosts[index] = this.budget.spent - spentBefore;
  }

  /** Guards element counts against the bytes left, so a forged count cannot allocate gigabytes. */
  count(n: number, bytesPerItem: number): number {
    if (n * bytesPerItem > this.buf.length - this.offset) throw new AmfError(`AMF3 count ${n} exceeds message`);
    return n;
  }

  value(depth: number): AmfValue {
    if (depth > MAX_AMF_DEPTH) throw new AmfError('AMF3 nesting too deep');
    this.budget.spend(1);
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
      case Marker.Xml: return this.referencedOr((length) => {
        const xml = this.utf8(length);
        this.budget.spend(stringCost(xml));
        return xml;
      });
      case Marker.Date: return this.referencedOr(() => new Date(this.f64()));
      // Byte arrays surface as arrays of octets: rare in RTMP, and it keeps AmfValue JSON-like.
      case Marker.ByteArray: return this.referencedOr((length) => {
        this.budget.spend(length);
        return [...this.bytes(length)];
      });
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
    if ((header & 1) === 0) return this.objectRef(header >>> 1);
    const spentBefore = this.budget.spent;
    const value = read(header >>> 1);
    this.finish(this.begin(value), spentBefore);
    return value;
  }

  array(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.objectRef(header >>> 1);
    const denseCount = this.count(header >>> 1, 1);
    const spentBefore = this.budget.spent;
    const assoc: AmfObject = {};
    const result: AmfValue[] = [];
    const index = this.begin(result);
    for (let key = this.string(); key !== ''; key = this.string()) setAmfProperty(assoc, key, this.value(depth + 1));
    for (let i = 0; i < denseCount; i++) result.push(this.value(depth + 1));
    this.finish(index, spentBefore);
    if (Object.keys(assoc).length === 0) return result;
    // Mixed arrays become objects: dense items under their index.
    result.forEach((v, i) => { assoc[String(i)] = v; });
    this.objects[index] = assoc;
    return assoc;
  }

  object(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.objectRef(header >>> 1);
    const spentBefore = this.budget.spent;
    let traits: Traits;
    if ((header & 2) === 0) {
      traits = this.ref(this.traits, header >>> 2, 'traits');
      this.budget.spend(traits.namesCost); // the names were charged once when the traits were read
    } else {
      if (header & 4) throw new AmfError('AMF3 externalizable objects are not supported');
      const dynamic = (header & 8) !== 0;
      const sealedCount = this.count(header >>> 4, 1);
      this.string(); // class name
      const names: string[] = [];
      for (let i = 0; i < sealedCount; i++) names.push(this.string());
      traits = { dynamic, names, namesCost: names.reduce((sum, name) => sum + stringCost(name), 0) };
      this.traits.push(traits);
    }
    const obj: AmfObject = {};
    const index = this.begin(obj);
    for (const name of traits.names) setAmfProperty(obj, name, this.value(depth + 1));
    if (traits.dynamic) {
      for (let key = this.string(); key !== ''; key = this.string()) setAmfProperty(obj, key, this.value(depth + 1));
    }
    this.finish(index, spentBefore);
    return obj;
  }

  numberVector(marker: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.objectRef(header >>> 1);
    const width = marker === Marker.VectorDouble ? 8 : 4;
    const n = this.count(header >>> 1, width);
    this.budget.spend(n);
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
    this.objectCosts.push(n);
    this.objects.push(items);
    return items;
  }

  objectVector(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.objectRef(header >>> 1);
    const n = this.count(header >>> 1, 1);
    const spentBefore = this.budget.spent;
    this.u8(); // fixed-length flag
    this.string(); // element type name
    const items: AmfValue[] = [];
    const index = this.begin(items);
    for (let i = 0; i < n; i++) items.push(this.value(depth + 1));
    this.finish(index, spentBefore);
    return items;
  }

  dictionary(depth: number): AmfValue {
    const header = this.u29();
    if ((header & 1) === 0) return this.objectRef(header >>> 1);
    const n = this.count(header >>> 1, 2);
    const spentBefore = this.budget.spent;
    this.u8(); // weak-keys flag
    const obj: AmfObject = {};
    const index = this.begin(obj);
    for (let i = 0; i < n; i++) {
      const key = this.value(depth + 1);
      setAmfProperty(obj, String(key), this.value(depth + 1));
    }
    this.finish(index, spentBefore);
    return obj;
  }
}

/**
 * Decodes one AMF3 value at `offset`, returning it and the offset after it.
 * Each call starts fresh reference tables, as each avmplus-object switch
 * does, but spends from the enclosing message's budget.
 */
export function decodeAmf3Value(buf: Buffer, offset: number, budget: AmfBudget): { value: AmfValue; offset: number } {
  const r = new Amf3Reader(buf, offset, budget);
  const value = r.value(0);
  return { value, offset: r.offset };
}

/** Decodes consecutive AMF3 values sharing one set of reference tables. */
export function decodeAmf3(buf: Buffer): AmfValue[] {
  const r = new Amf3Reader(buf, 0, new AmfBudget(buf.length));
  const values: AmfValue[] = [];
  while (r.offset < buf.length) values.push(r.value(0));
  return values;
}
