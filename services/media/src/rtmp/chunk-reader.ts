import { RtmpProtocolError, type RtmpMessage } from './messages.js';

export interface ChunkReaderLimits {
  /** Largest message we accept, in bytes (a keyframe of a high-rate stream fits in a few MiB). */
  maxMessageSize: number;
  /** Most chunk streams a peer may have open at once. */
  maxChunkStreams: number;
  /**
   * Most bytes allocated at once for messages whose first chunk has arrived
   * but not their last, summed over all chunk streams (each is allocated at
   * its declared length up front). Without it a peer could open every chunk
   * stream with a maximum-size message and one chunk each, reserving
   * maxChunkStreams x maxMessageSize. Should be at least maxMessageSize;
   * default 16 MiB (DEFAULT_CHUNK_LIMITS): two maximum-size messages in
   * flight, e.g. a large keyframe and a metadata message.
   */
  maxPartialBytes?: number;
}

export const DEFAULT_CHUNK_LIMITS: Required<ChunkReaderLimits> = {
  maxMessageSize: 8 * 1024 * 1024,
  maxChunkStreams: 64,
  maxPartialBytes: 16 * 1024 * 1024,
};

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

/** Basic header (up to 3) + type-0 message header (11) + extended timestamp (4). */
const MAX_HEADER_LENGTH = 18;
/** Message header length by chunk format (fmt 0-3). */
const MESSAGE_HEADER_LENGTH = [11, 7, 3, 0];

/** 1, 2 or 3 bytes, from the low six bits of the first byte. */
function basicHeaderLength(first: number): number {
  const low = first & 0x3f;
  return low === 0 ? 2 : low === 1 ? 3 : 1;
}

/** The chunk stream id of the basic header at `p` (whole, see basicHeaderLength). */
function chunkStreamId(buf: Buffer, p: number): number {
  const low = buf[p]! & 0x3f;
  if (low === 0) return 64 + buf[p + 1]!;
  if (low === 1) return 64 + buf[p + 1]! + buf[p + 2]! * 256;
  return low;
}

/**
 * Incremental parser of the RTMP chunk stream. Feed it bytes as they arrive;
 * it returns complete messages. Each message is assembled into one buffer
 * allocated at its final size (bounded by maxMessageSize) when its first
 * chunk header arrives, and chunk payload bytes are copied straight into it
 * as they come, so a read costs only the bytes it brings however large the
 * chunk size: nothing received is ever copied twice. The bytes allocated
 * for messages in progress are counted, and a message that would take them
 * past maxPartialBytes is a protocol error. Only a chunk header
 * split across reads is carried over, in a small fixed buffer.
 */
export class ChunkReader {
  chunkSize = 128;
  private readonly streams = new Map<number, ChunkStreamState>();
  /** The start of a chunk header split across reads. */
  private readonly header = Buffer.alloc(MAX_HEADER_LENGTH);
  private headerLength = 0;
  /** The chunk stream whose chunk payload is arriving, and how much of the chunk is still to come. */
  private current: ChunkStreamState | null = null;
  private chunkRemaining = 0;
  /** Bytes allocated for the messages in progress (the sum of their lengths), bounded by maxPartialBytes. */
  private reserved = 0;
  private readonly maxPartialBytes: number;

  constructor(private readonly limits: ChunkReaderLimits = DEFAULT_CHUNK_LIMITS) {
    this.maxPartialBytes = limits.maxPartialBytes ?? DEFAULT_CHUNK_LIMITS.maxPartialBytes;
  }

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
      if (state.message !== null) this.reserved -= state.message.length;
      state.message = null;
      state.received = 0;
    }
  }

  /** Bytes held that belong to no message buffer yet: a split chunk header (for memory accounting). */
  get bufferedBytes(): number { return this.headerLength; }

  /** Bytes allocated for partly received messages (their full declared lengths), at most maxPartialBytes. */
  get reservedBytes(): number { return this.reserved; }

  /**
   * Parses what `data` brings; `onMessage` runs for each complete message,
   * in order, and may change the chunk size (Set Chunk Size applies to the
   * very next chunk). `data` is not retained.
   */
  push(data: Buffer, onMessage: (message: RtmpMessage) => void): void {
    let offset = 0;
    while (offset < data.length) {
      if (this.current) {
        offset = this.readPayload(data, offset, onMessage);
      } else if (this.headerLength > 0) {
        offset = this.completeHeader(data, offset, onMessage);
      } else {
        const size = this.headerSize(data, offset, data.length);
        if (size === 0 || offset + size > data.length) {
          this.headerLength = data.copy(this.header, 0, offset);
          return;
        }
        this.onHeader(data, offset, onMessage);
        offset += size;
      }
    }
  }

  /** Copies payload bytes of the current chunk into its message; emits the message once it is full. */
  private readPayload(data: Buffer, offset: number, onMessage: (message: RtmpMessage) => void): number {
    const state = this.current!;
    const n = Math.min(this.chunkRemaining, data.length - offset);
    data.copy(state.message!, state.received, offset, offset + n);
    state.received += n;
    this.chunkRemaining -= n;
    if (this.chunkRemaining === 0) {
      this.current = null;
      if (state.received === state.length) this.emit(state, onMessage);
    }
    return offset + n;
  }

  /** Adds bytes to a carried header until it is whole (at most 18 bytes, so one at a time is fine). */
  private completeHeader(data: Buffer, offset: number, onMessage: (message: RtmpMessage) => void): number {
    while (offset < data.length) {
      this.header[this.headerLength++] = data[offset++]!;
      const size = this.headerSize(this.header, 0, this.headerLength);
      if (size !== 0 && size === this.headerLength) {
        this.headerLength = 0;
        this.onHeader(this.header, 0, onMessage);
        break;
      }
    }
    return offset;
  }

  /** The length of the chunk header at `p`, or 0 if the bytes up to `end` do not tell yet. */
  private headerSize(buf: Buffer, p: number, end: number): number {
    if (end - p < 1) return 0;
    const fmt = buf[p]! >> 6;
    const basic = basicHeaderLength(buf[p]!);
    const size = basic + MESSAGE_HEADER_LENGTH[fmt]!;
    if (fmt === 3) {
      if (end - p < basic) return 0;
      return this.streams.get(chunkStreamId(buf, p))?.extended ? size + 4 : size;
    }
    if (end - p < basic + 3) return 0;
    return buf.readUIntBE(p + basic, 3) === 0xffffff ? size + 4 : size;
  }

  /** Applies the whole chunk header at `p` and sets up the chunk's payload. */
  private onHeader(buf: Buffer, p: number, onMessage: (message: RtmpMessage) => void): void {
    const fmt = buf[p]! >> 6;
    const csid = chunkStreamId(buf, p);
    p += basicHeaderLength(buf[p]!);

    const known = this.streams.get(csid);
    if (!known) {
      if (fmt !== 0) throw new RtmpProtocolError(`chunk stream ${csid} starts with a type ${fmt} header`);
      if (this.streams.size >= this.limits.maxChunkStreams) {
        throw new RtmpProtocolError(`too many chunk streams (limit ${this.limits.maxChunkStreams})`);
      }
    }
    const state = known ?? { timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, message: null, received: 0 };

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
    p += MESSAGE_HEADER_LENGTH[fmt]!;
    const extended = fmt === 3 ? state.extended : timestampField === 0xffffff;
    if (extended) timestampField = buf.readUInt32BE(p);

    if (state.message !== null) {
      // A header in the middle of a message, treated as SRS does: type 0
      // announces a new message, and a type-1 header may not change the
      // length (nor, here, the type) of the message it continues. Taking
      // either as a continuation would emit a partly filled buffer or make
      // the remaining length negative. Types 1 and 2 that agree continue it.
      if (fmt === 0) {
        throw new RtmpProtocolError(`new message on chunk stream ${csid} before message of ${state.length} bytes was complete`);
      }
      if (length !== state.length || type !== state.type) {
        throw new RtmpProtocolError(`length or type of the message in progress on chunk stream ${csid} changed`);
      }
    } else {
      if (length > this.limits.maxMessageSize) {
        throw new RtmpProtocolError(`message of ${length} bytes exceeds the ${this.limits.maxMessageSize}-byte limit`);
      }
      if (this.reserved + length > this.maxPartialBytes) {
        throw new RtmpProtocolError(`message of ${length} bytes on chunk stream ${csid} would bring partly received messages to ${this.reserved + length} bytes, over the ${this.maxPartialBytes}-byte limit`);
      }
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
      state.length = length;
      state.type = type;
      state.streamId = streamId;
      state.message = Buffer.allocUnsafe(length);
      state.received = 0;
      this.reserved += length;
    }
    state.extended = extended;
    if (!known) this.streams.set(csid, state);

    this.chunkRemaining = Math.min(state.length - state.received, this.chunkSize);
    if (this.chunkRemaining > 0) this.current = state;
    else this.emit(state, onMessage); // a zero-length message
  }

  private emit(state: ChunkStreamState, onMessage: (message: RtmpMessage) => void): void {
    const payload = state.message!;
    this.reserved -= payload.length;
    state.message = null;
    state.received = 0;
    onMessage({ type: state.type, timestamp: state.timestamp, streamId: state.streamId, payload });
  }
}
