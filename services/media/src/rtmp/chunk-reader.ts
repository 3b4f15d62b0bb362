import { RtmpProtocolError, type RtmpMessage } from './messages.js';

export interface ChunkReaderLimits {
  /** Largest message we accept, in bytes (a keyframe of a high-rate stream fits in a few MiB). */
  maxMessageSize: number;
  /** Most chunk streams a peer may have open at once. */
  maxChunkStreams: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkReaderLimits = { maxMessageSize: 8 * 1024 * 1024, maxChunkStreams: 64 };

/** The largest chunk size the protocol allows: 31 bits (the top bit must be zero). */
const MAX_CHUNK_SIZE = 0x7fffffff;
/** No message is longer than 24 bits, so larger chunk sizes behave like this one. */
const MAX_MESSAGE_LENGTH = 0xffffff;

/** What we remember per chunk stream id to expand compressed headers (fmt 1-3). */
interface ChunkStreamState {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  /** The last header carried an extended timestamp, so type-3 chunks carry one too. */
  extended: boolean;
  /** The message being assembled, or null between messages. */
  message: Buffer | null;
  received: number;
}

/**
 * Incremental parser of the RTMP chunk stream. Feed it bytes as they arrive;
 * it returns complete messages. A message larger than one chunk is assembled
 * into a single buffer allocated once at its final size (bounded by
 * maxMessageSize), so a peer announcing a message that never arrives can
 * hold at most that much memory.
 */
export class ChunkReader {
  chunkSize = 128;
  private pending: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, ChunkStreamState>();

  constructor(private readonly limits: ChunkReaderLimits = DEFAULT_CHUNK_LIMITS) {}

  /** Applies the peer's Set Chunk Size; throws on 0 or a value with the top bit set. */
  setChunkSize(size: number): void {
    if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
      throw new RtmpProtocolError(`invalid chunk size ${size}`);
    }
    this.chunkSize = Math.min(size, MAX_MESSAGE_LENGTH);
  }

  /** Drops the partly received message on a chunk stream (Abort message). */
  abort(chunkStreamId: number): void {
    const state = this.streams.get(chunkStreamId);
    if (state) {
      state.message = null;
      state.received = 0;
    }
  }

  /** Bytes buffered but not yet parsed (for memory accounting). */
  get bufferedBytes(): number { return this.pending.length; }

  /**
   * Parses as many complete chunks as `data` (plus what was left over)
   * holds; `onMessage` runs for each complete message, in order, and may
   * change the chunk size (Set Chunk Size applies to the very next chunk).
   */
  push(data: Buffer, onMessage: (message: RtmpMessage) => void): void {
    let buf = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    let offset = 0;
    for (;;) {
      const consumed = this.parseChunk(buf, offset, onMessage);
      if (consumed === 0) break;
      offset += consumed;
    }
    // Keep only the unparsed tail; copy it so we do not pin the socket's large buffer.
    this.pending = offset >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(offset));
    buf = this.pending;
  }

  /** Parses one chunk at `offset`; returns bytes consumed, or 0 if incomplete. */
  private parseChunk(buf: Buffer, start: number, onMessage: (message: RtmpMessage) => void): number {
    let p = start;
    const available = buf.length - start;
    if (available < 1) return 0;
    const fmt = buf[p]! >> 6;
    let csid = buf[p]! & 0x3f;
    p++;
    if (csid === 0) {
      if (buf.length < p + 1) return 0;
      csid = 64 + buf[p]!;
      p++;
    } else if (csid === 1) {
      if (buf.length < p + 2) return 0;
      csid = 64 + buf[p]! + buf[p + 1]! * 256;
      p += 2;
    }
    const headerLength = fmt === 0 ? 11 : fmt === 1 ? 7 : fmt === 2 ? 3 : 0;
    if (buf.length < p + headerLength) return 0;

    let state = this.streams.get(csid);
    if (!state) {
      if (fmt !== 0) throw new RtmpProtocolError(`chunk stream ${csid} starts with a type ${fmt} header`);
      if (this.streams.size >= this.limits.maxChunkStreams) {
        throw new RtmpProtocolError(`too many chunk streams (limit ${this.limits.maxChunkStreams})`);
      }
      state = { timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, message: null, received: 0 };
    }

    // Read the header into locals first: nothing is committed until the whole chunk is here.
    let timestampField = 0;
    let length = state.length;
    let type = state.type;
    let streamId = state.streamId;
    if (fmt <= 2) timestampField = buf.readUIntBE(p, 3);
    if (fmt <= 1) {
      length = buf.readUIntBE(p + 3, 3);
      type = buf[p + 6]!;
    }
    if (fmt === 0) streamId = buf.readUInt32LE(p + 7);
    p += headerLength;

    const extended = fmt === 3 ? state.extended : timestampField === 0xffffff;
    if (extended) {
      if (buf.length < p + 4) return 0;
      timestampField = buf.readUInt32BE(p);
      p += 4;
    }

    const startsMessage = state.message === null;
    if (startsMessage && length > this.limits.maxMessageSize) {
      throw new RtmpProtocolError(`message of ${length} bytes exceeds the ${this.limits.maxMessageSize}-byte limit`);
    }
    const remaining = length - (startsMessage ? 0 : state.received);
    const payloadLength = Math.min(remaining, this.chunkSize);
    if (buf.length < p + payloadLength) return 0;

    // The whole chunk is here: commit header state.
    if (!this.streams.has(csid)) this.streams.set(csid, state);
    state.extended = extended;
    state.length = length;
    state.type = type;
    state.streamId = streamId;
    if (startsMessage) {
      if (fmt === 0) {
        state.timestamp = timestampField;
        state.delta = 0;
      } else if (fmt === 1 || fmt === 2) {
        state.delta = timestampField;
        state.timestamp = (state.timestamp + timestampField) >>> 0;
      } else {
        // Type 3 starting a new message repeats the previous delta.
        state.timestamp = (state.timestamp + state.delta) >>> 0;
      }
      state.message = length <= this.chunkSize && length === payloadLength ? null : Buffer.allocUnsafe(length);
      state.received = 0;
    }

    if (state.message === null) {
      // Single-chunk message: hand out a copy of the slice (small) so the
      // consumer may keep it without pinning our input buffer.
      const payload = Buffer.from(buf.subarray(p, p + payloadLength));
      onMessage({ type, timestamp: state.timestamp, streamId, payload });
      return p + payloadLength - start;
    }
    buf.copy(state.message, state.received, p, p + payloadLength);
    state.received += payloadLength;
    if (state.received >= length) {
      const payload = state.message;
      state.message = null;
      state.received = 0;
      onMessage({ type, timestamp: state.timestamp, streamId, payload });
    }
    return p + payloadLength - start;
  }
}
