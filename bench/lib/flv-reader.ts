/**
 * An incremental FLV demuxer for benchmarks: feed it bytes as they arrive (a
 * file read at once, or an HTTP-FLV response in chunks) and it calls back with
 * each tag. It copies nothing but the tag bodies it hands out.
 */
export interface FlvTag {
  /** 8 audio, 9 video, 18 script data. */
  type: number;
  /** Decode timestamp in ms (with the extended upper byte). */
  timestamp: number;
  body: Buffer;
}

const FILE_HEADER_BYTES = 13; // 9-byte header + PreviousTagSize0
const TAG_HEADER_BYTES = 11;

export class FlvReader {
  private pending: Buffer = Buffer.alloc(0);
  private headerSkipped = false;

  constructor(private readonly onTag: (tag: FlvTag) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    if (!this.headerSkipped) {
      if (this.pending.length < FILE_HEADER_BYTES) return;
      if (this.pending.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV stream');
      offset = this.pending.readUInt32BE(5) + 4;
      this.headerSkipped = true;
    }
    while (this.pending.length - offset >= TAG_HEADER_BYTES) {
      const size = this.pending.readUIntBE(offset + 1, 3);
      const end = offset + TAG_HEADER_BYTES + size + 4;
      if (this.pending.length < end) break;
      const timestamp = (this.pending.readUIntBE(offset + 4, 3) | (this.pending[offset + 7]! << 24)) >>> 0;
      const body = Buffer.from(this.pending.subarray(offset + TAG_HEADER_BYTES, offset + TAG_HEADER_BYTES + size));
      this.onTag({ type: this.pending[offset]! & 0x1f, timestamp, body });
      offset = end;
    }
    this.pending = this.pending.subarray(offset);
  }
}

/** All tags of a complete FLV file held in memory. */
export function readFlvTags(file: Buffer): FlvTag[] {
  const tags: FlvTag[] = [];
  new FlvReader((t) => tags.push(t)).push(file);
  return tags;
}
