import { ReedSolomon } from './reed-solomon.js';

/**
 * Forward error correction for a datagram link (KCP over UDP), in the manner
 * of kcp-go: outgoing datagrams are grouped `dataShards` at a time, each is
 * sent at once as a data shard, and when a group is complete `parityShards`
 * Reed–Solomon parity shards follow. The receiver passes data shards through
 * immediately and, when some are lost, rebuilds them from any `dataShards`
 * shards of the group — without waiting a round trip for KCP to retransmit.
 *
 * Every shard carries an 8-byte header (little-endian):
 *   group u32 | index u8 | dataShards u8 | parityShards u8 | filled u8
 * index < dataShards is a data shard, whose body is `u16 length | datagram`;
 * otherwise a parity shard over those bodies zero-padded to the longest.
 * `filled` (on parity shards) is how many data shards the group really has:
 * `flush()` closes a short group so a quiet link still gets its parity, and
 * the missing tail counts as empty shards.
 *
 * Both ends of a link must use the same (dataShards, parityShards), such as
 * 10 data + 3 parity. Pure: no sockets, no timers.
 */
export const FEC_HEADER_SIZE = 8;

/** Shards per FEC group; both ends of a link must agree. dataShards + parityShards <= 256. */
export interface FecSetting {
  dataShards: number;
  parityShards: number;
}
const LENGTH_SIZE = 2;

export interface FecStats {
  dataIn: number;
  parityIn: number;
  /** Data shards rebuilt from parity. */
  recovered: number;
  /** Shards dropped: malformed, or another link's shard counts. */
  malformed: number;
}

interface Group {
  shards: (Buffer | null)[];
  present: number;
  delivered: boolean[];
  /** Set from a parity shard: data shards past it are empty. */
  filled: number;
  done: boolean;
}

export class FecCodec {
  private readonly rs: ReedSolomon;
  private sendGroup = 0;
  private pending: Buffer[] = [];
  private readonly groups = new Map<number, Group>();
  readonly stats: FecStats = { dataIn: 0, parityIn: 0, recovered: 0, malformed: 0 };

  constructor(readonly dataShards: number, readonly parityShards: number, private readonly maxGroups = 128) {
    if (dataShards < 1 || dataShards > 255 || parityShards < 1 || parityShards > 255 || dataShards + parityShards > 256) {
      throw new RangeError(`FEC shards ${dataShards},${parityShards} out of range`);
    }
    this.rs = new ReedSolomon(dataShards, parityShards);
  }

  /** Bytes FEC adds to every datagram (header + length). */
  static readonly overhead = FEC_HEADER_SIZE + LENGTH_SIZE;

  /** Wraps one outgoing datagram; returns what to send (the data shard, then parity when the group completes). */
  encode(datagram: Uint8Array): Buffer[] {
    const body = Buffer.allocUnsafe(LENGTH_SIZE + datagram.length);
    body.writeUInt16LE(datagram.length, 0);
    body.set(datagram, LENGTH_SIZE);
    const out = [this.shard(this.pending.length, this.dataShards, body)];
    this.pending.push(body);
    if (this.pending.length === this.dataShards) out.push(...this.closeGroup());
    return out;
  }

  /** Closes a partly filled group: its parity shards (empty if there is no open group). */
  flush(): Buffer[] {
    return this.pending.length > 0 ? this.closeGroup() : [];
  }

  /**
   * The datagram a data shard carries, read without any codec state (null
   * for a parity or malformed shard): what a server looks at before it
   * spends a codec on a source it does not know yet.
   */
  static peekDatagram(shard: Uint8Array, dataShards: number, parityShards: number): Buffer | null {
    const parsed = parseShard(shard, dataShards, parityShards);
    return parsed !== null && parsed.index < dataShards ? datagramOf(parsed.body) : null;
  }

  /**
   * Reads a shard by the counts in its own header, whatever this link's: the
   * counts, and the datagram a data shard carries (null for parity). Null
   * if it is not a well-formed shard of any setting.
   */
  static peekAnyShard(shard: Uint8Array): { setting: FecSetting; datagram: Buffer | null } | null {
    if (shard.length < FEC_HEADER_SIZE) return null;
    const setting = { dataShards: shard[5]!, parityShards: shard[6]! };
    if (setting.dataShards === 0 || setting.parityShards === 0) return null;
    const parsed = parseShard(shard, setting.dataShards, setting.parityShards);
    return parsed === null ? null : { setting, datagram: parsed.index < setting.dataShards ? datagramOf(parsed.body) : null };
  }

  /** Unwraps one incoming shard; returns the datagrams it delivers (itself, and any it let us rebuild). */
  decode(shard: Uint8Array): Buffer[] {
    const parsed = parseShard(shard, this.dataShards, this.parityShards);
    if (parsed === null) {
      this.stats.malformed++;
      return [];
    }
    const { groupId, index, filled, body } = parsed;
    const isData = index < this.dataShards;
    if (isData) this.stats.dataIn++;
    else this.stats.parityIn++;

    const group = this.group(groupId);
    if (group.done || group.shards[index]) return [];
    group.shards[index] = Buffer.from(body); // own the bytes: the socket may reuse its buffer
    group.present++;
    const out: Buffer[] = [];
    if (isData) {
      group.delivered[index] = true;
      out.push(datagramOf(group.shards[index]!));
    } else if (group.filled === this.dataShards && filled < this.dataShards) {
      this.markEmptyTail(group, filled);
    }
    if (group.present >= this.dataShards) out.push(...this.recover(group));
    return out;
  }

  private closeGroup(): Buffer[] {
    const filled = this.pending.length;
    const size = Math.max(...this.pending.map((b) => b.length));
    const data = Array.from({ length: this.dataShards }, (_, i) => pad(this.pending[i], size));
    const parity = this.rs.encode(data).map((p, i) => this.shard(this.dataShards + i, filled, p));
    this.pending = [];
    this.sendGroup = (this.sendGroup + 1) >>> 0;
    return parity;
  }

  private shard(index: number, filled: number, body: Buffer): Buffer {
    const header = Buffer.allocUnsafe(FEC_HEADER_SIZE);
    header.writeUInt32LE(this.sendGroup, 0);
    header[4] = index;
    header[5] = this.dataShards;
    header[6] = this.parityShards;
    header[7] = filled;
    return Buffer.concat([header, body]);
  }

  private group(id: number): Group {
    let group = this.groups.get(id);
    if (!group) {
      group = {
        shards: new Array<Buffer | null>(this.dataShards + this.parityShards).fill(null),
        present: 0,
        delivered: new Array<boolean>(this.dataShards).fill(false),
        filled: this.dataShards,
        done: false,
      };
      this.groups.set(id, group);
      // Bounded memory: forget the oldest groups (late shards of those are only passed through).
      if (this.groups.size > this.maxGroups) this.groups.delete(this.groups.keys().next().value!);
    }
    return group;
  }

  /** A short group's missing tail: present, empty, never delivered. */
  private markEmptyTail(group: Group, filled: number): void {
    group.filled = filled;
    for (let i = filled; i < this.dataShards; i++) {
      if (group.shards[i]) continue;
      group.shards[i] = Buffer.alloc(LENGTH_SIZE);
      group.present++;
      group.delivered[i] = true;
    }
  }

  private recover(group: Group): Buffer[] {
    group.done = true;
    if (group.delivered.every(Boolean)) return [];
    const parity = group.shards.slice(this.dataShards).find((s) => s !== null);
    if (!parity) return [];
    const size = parity.length;
    const shards = group.shards.map((s) => (s ? pad(s, size) : null));
    this.rs.reconstruct(shards);
    const out: Buffer[] = [];
    for (let i = 0; i < group.filled; i++) {
      if (group.delivered[i]) continue;
      const body = shards[i]!;
      if (body.readUInt16LE(0) > body.length - LENGTH_SIZE) continue; // corrupt group: let KCP retransmit
      group.delivered[i] = true;
      this.stats.recovered++;
      out.push(datagramOf(Buffer.from(body)));
    }
    return out;
  }
}

interface ParsedShard {
  groupId: number;
  index: number;
  filled: number;
  body: Buffer;
}

/** Header and body of a well-formed shard of this (dataShards, parityShards) setting, or null. */
function parseShard(shard: Uint8Array, dataShards: number, parityShards: number): ParsedShard | null {
  const packet = Buffer.from(shard.buffer, shard.byteOffset, shard.byteLength);
  if (packet.length < FEC_HEADER_SIZE + LENGTH_SIZE || packet[5] !== dataShards || packet[6] !== parityShards) return null;
  const index = packet[4]!;
  const filled = packet[7]!;
  if (index >= dataShards + parityShards || filled === 0 || filled > dataShards) return null;
  const body = packet.subarray(FEC_HEADER_SIZE);
  if (index < dataShards && body.readUInt16LE(0) > body.length - LENGTH_SIZE) return null;
  return { groupId: packet.readUInt32LE(0), index, filled, body };
}

function datagramOf(body: Buffer): Buffer {
  return body.subarray(LENGTH_SIZE, LENGTH_SIZE + body.readUInt16LE(0));
}

function pad(body: Uint8Array | undefined, size: number): Buffer {
  const out = Buffer.alloc(size);
  if (body) out.set(body.subarray(0, size));
  return out;
}
