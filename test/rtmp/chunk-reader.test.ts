/**
 * The chunk stream parser, fed hand-built chunks: every header format,
 * extended timestamps, abort, chunk size changes, interleaving, and
 * arbitrary splitting of the input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkReader } from '@bridgecast/media/rtmp/chunk-reader.js';
import { RtmpProtocolError, type RtmpMessage } from '@bridgecast/media/rtmp/messages.js';

interface Header {
  fmt: 0 | 1 | 2 | 3;
  csid: number;
  /** Timestamp (fmt 0) or delta (fmt 1, 2); written extended when >= 0xffffff. */
  ts?: number;
  length?: number;
  type?: number;
  streamId?: number;
  /** Force a 4-byte extended timestamp on a type-3 chunk. */
  extended?: number;
}

/** One chunk: basic header, message header, optional extended timestamp, then `data`. */
function chunk(h: Header, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [];
  if (h.csid < 64) parts.push(Buffer.from([(h.fmt << 6) | h.csid]));
  else if (h.csid < 320) parts.push(Buffer.from([h.fmt << 6, h.csid - 64]));
  else parts.push(Buffer.from([(h.fmt << 6) | 1, (h.csid - 64) & 0xff, (h.csid - 64) >> 8]));
  const ts = h.ts ?? 0;
  const extended = ts >= 0xffffff;
  if (h.fmt <= 2) {
    const m = Buffer.alloc(h.fmt === 0 ? 11 : h.fmt === 1 ? 7 : 3);
    m.writeUIntBE(extended ? 0xffffff : ts, 0, 3);
    if (h.fmt <= 1) {
      m.writeUIntBE(h.length ?? 0, 3, 3);
      m[6] = h.type ?? 0;
    }
    if (h.fmt === 0) m.writeUInt32LE(h.streamId ?? 0, 7);
    parts.push(m);
  }
  const ext = h.fmt === 3 ? h.extended : extended ? ts : undefined;
  if (ext !== undefined) {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(ext);
    parts.push(e);
  }
  parts.push(typeof data === 'string' ? Buffer.from(data) : data);
  return Buffer.concat(parts);
}

function readAll(input: Buffer, reader = new ChunkReader()): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  reader.push(input, (m) => out.push(m));
  return out;
}

function bytes(n: number, seed = 0): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));
}

const msg = (type: number, timestamp: number, streamId: number, payload: Buffer | string): RtmpMessage =>
  ({ type, timestamp, streamId, payload: typeof payload === 'string' ? Buffer.from(payload) : payload });

test('fmt 0, 1, 2 and 3 headers expand to full messages', () => {
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 4, ts: 1000, length: 3, type: 8, streamId: 1 }, 'abc'),
    // fmt 1: delta + new length and type, same stream id
    chunk({ fmt: 1, csid: 4, ts: 20, length: 2, type: 9 }, 'de'),
    // fmt 2: delta only; length and type carry over
    chunk({ fmt: 2, csid: 4, ts: 30 }, 'fg'),
    // fmt 3 starting a message: everything, including the last delta, repeats
    chunk({ fmt: 3, csid: 4 }, 'hi'),
  ]);
  assert.deepEqual(readAll(input), [
    msg(8, 1000, 1, 'abc'),
    msg(9, 1020, 1, 'de'),
    msg(9, 1050, 1, 'fg'),
    msg(9, 1080, 1, 'hi'),
  ]);
});

test('a message spanning chunks is assembled from type-3 continuations', () => {
  const payload = bytes(300);
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 6, ts: 5, length: 300, type: 9, streamId: 1 }, payload.subarray(0, 128)),
    chunk({ fmt: 3, csid: 6 }, payload.subarray(128, 256)),
    chunk({ fmt: 3, csid: 6 }, payload.subarray(256)),
  ]);
  assert.deepEqual(readAll(input), [msg(9, 5, 1, payload)]);
});

test('extended timestamps, including on type-3 continuation chunks and fmt 1 deltas', () => {
  const payload = bytes(200);
  const big = 0x01234567;
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 4, ts: big, length: 200, type: 9, streamId: 1 }, payload.subarray(0, 128)),
    // The continuation repeats the extended timestamp (as the spec and ffmpeg do).
    chunk({ fmt: 3, csid: 4, extended: big }, payload.subarray(128)),
    chunk({ fmt: 1, csid: 4, ts: 0x1000000, length: 1, type: 9 }, 'x'),
    chunk({ fmt: 0, csid: 5, ts: 0xffffff, length: 1, type: 8, streamId: 1 }, 'y'),
  ]);
  assert.deepEqual(readAll(input), [
    msg(9, big, 1, payload),
    msg(9, big + 0x1000000, 1, 'x'),
    msg(8, 0xffffff, 1, 'y'),
  ]);
});

test('32-bit timestamps wrap instead of overflowing', () => {
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 4, ts: 0xfffffff0, length: 1, type: 8 }, 'a'),
    chunk({ fmt: 2, csid: 4, ts: 0x20 }, 'b'),
  ]);
  assert.deepEqual(readAll(input).map((m) => m.timestamp), [0xfffffff0, 0x10]);
});

test('abort drops the partial message and the chunk stream starts over', () => {
  const reader = new ChunkReader();
  const first = chunk({ fmt: 0, csid: 6, ts: 0, length: 300, type: 9 }, bytes(128));
  assert.deepEqual(readAll(first, reader), []);
  reader.abort(6);
  const next = chunk({ fmt: 0, csid: 6, ts: 40, length: 2, type: 9 }, 'ok');
  assert.deepEqual(readAll(next, reader), [msg(9, 40, 0, 'ok')]);
});

test('a Set Chunk Size applies to the very next chunk in the same push', () => {
  const reader = new ChunkReader();
  const setChunkSize = Buffer.alloc(4);
  setChunkSize.writeUInt32BE(4096);
  const payload = bytes(1000);
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 2, length: 4, type: 1 }, setChunkSize),
    chunk({ fmt: 0, csid: 6, ts: 1, length: 1000, type: 9, streamId: 1 }, payload), // one chunk at 4096
    chunk({ fmt: 0, csid: 6, ts: 2, length: 3, type: 9, streamId: 1 }, 'end'),
  ]);
  const out: RtmpMessage[] = [];
  reader.push(input, (m) => {
    if (m.type === 1) reader.setChunkSize(m.payload.readUInt32BE(0));
    out.push(m);
  });
  assert.equal(reader.chunkSize, 4096);
  assert.deepEqual(out.slice(1), [msg(9, 1, 1, payload), msg(9, 2, 1, 'end')]);
});

test('interleaved chunk streams are assembled independently', () => {
  const a = bytes(300, 1);
  const b = bytes(200, 2);
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 6, ts: 100, length: 300, type: 9, streamId: 1 }, a.subarray(0, 128)),
    chunk({ fmt: 0, csid: 4, ts: 90, length: 200, type: 8, streamId: 1 }, b.subarray(0, 128)),
    chunk({ fmt: 3, csid: 6 }, a.subarray(128, 256)),
    chunk({ fmt: 3, csid: 4 }, b.subarray(128)),
    chunk({ fmt: 3, csid: 6 }, a.subarray(256)),
  ]);
  assert.deepEqual(readAll(input), [msg(8, 90, 1, b), msg(9, 100, 1, a)]);
});

test('two- and three-byte basic headers (chunk stream ids 64+ and 320+)', () => {
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 64, length: 1, type: 8 }, 'a'),
    chunk({ fmt: 0, csid: 319, length: 1, type: 8 }, 'b'),
    chunk({ fmt: 0, csid: 320, length: 1, type: 8 }, 'c'),
    chunk({ fmt: 0, csid: 65599, length: 1, type: 8 }, 'd'),
    chunk({ fmt: 2, csid: 65599, ts: 7 }, 'e'),
  ]);
  assert.deepEqual(readAll(input).map((m) => [m.payload.toString(), m.timestamp]), [['a', 0], ['b', 0], ['c', 0], ['d', 0], ['e', 7]]);
});

test('feeding one byte at a time gives the same messages as one push', () => {
  const a = bytes(700, 3);
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 6, ts: 0xffffff + 5, length: 700, type: 9, streamId: 1 }, a.subarray(0, 128)),
    chunk({ fmt: 0, csid: 4, ts: 3, length: 2, type: 8, streamId: 1 }, 'au'),
    ...[1, 2, 3, 4].map((i) => chunk({ fmt: 3, csid: 6, extended: 0xffffff + 5 }, a.subarray(i * 128, (i + 1) * 128))),
    chunk({ fmt: 2, csid: 4, ts: 23 }, 'dx'),
    chunk({ fmt: 3, csid: 6, extended: 0xffffff + 5 }, a.subarray(640)),
    chunk({ fmt: 0, csid: 320, ts: 1, length: 0, type: 18, streamId: 1 }),
  ]);
  const oneShot = readAll(input);
  assert.equal(oneShot.length, 4);
  const reader = new ChunkReader();
  const trickled: RtmpMessage[] = [];
  for (let i = 0; i < input.length; i++) reader.push(input.subarray(i, i + 1), (m) => trickled.push(m));
  assert.deepEqual(trickled, oneShot);
  assert.equal(reader.bufferedBytes, 0);
});

test('protocol violations throw RtmpProtocolError', () => {
  const reader = new ChunkReader();
  assert.throws(() => reader.setChunkSize(0), RtmpProtocolError);
  assert.throws(() => reader.setChunkSize(2 ** 31), RtmpProtocolError);
  reader.setChunkSize(2 ** 31 - 1); // legal, behaves like the largest message length
  assert.throws(() => readAll(chunk({ fmt: 1, csid: 9, length: 1, type: 8 }, 'x')), /starts with a type 1 header/);
  assert.throws(() => readAll(chunk({ fmt: 0, csid: 4, length: 0xffffff, type: 9 })), /exceeds the .*-byte limit/);
  const few = new ChunkReader({ maxMessageSize: 1024, maxChunkStreams: 2 });
  assert.throws(() => readAll(Buffer.concat([3, 4, 5].map((csid) => chunk({ fmt: 0, csid, length: 1, type: 8 }, 'x'))), few), /too many chunk streams/);
});

test('a new fmt 0 header in the middle of a message is a protocol error (as in SRS), never a partly filled message', () => {
  const out: RtmpMessage[] = [];
  const reader = new ChunkReader();
  reader.push(chunk({ fmt: 0, csid: 6, ts: 0, length: 100_000, type: 9, streamId: 1 }, bytes(128)), (m) => out.push(m));
  assert.throws(
    () => reader.push(chunk({ fmt: 0, csid: 6, ts: 40, length: 100_000, type: 9, streamId: 1 }, bytes(128)), (m) => out.push(m)),
    (err: unknown) => err instanceof RtmpProtocolError && /new message .* before message .* complete/.test(err.message),
  );
  assert.deepEqual(out, []);
});

test('a fmt 1 header changing the length of a message in progress is a protocol error, longer or shorter', () => {
  for (const length of [100_000, 200, 10]) {
    const out: RtmpMessage[] = [];
    const reader = new ChunkReader();
    const input = Buffer.concat([
      chunk({ fmt: 0, csid: 6, ts: 0, length: 300, type: 9, streamId: 1 }, bytes(128)),
      chunk({ fmt: 1, csid: 6, ts: 0, length, type: 9 }, bytes(Math.min(length, 128))),
    ]);
    assert.throws(() => reader.push(input, (m) => out.push(m)), /length .* changed/, `new length ${length}`);
    assert.deepEqual(out, [], `new length ${length}`);
  }
});

test('fmt 1 and 2 headers repeating the length of a message in progress continue it (as SRS accepts)', () => {
  const payload = bytes(400, 5);
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 6, ts: 70, length: 400, type: 9, streamId: 1 }, payload.subarray(0, 128)),
    chunk({ fmt: 1, csid: 6, ts: 0, length: 400, type: 9 }, payload.subarray(128, 256)),
    chunk({ fmt: 2, csid: 6, ts: 0 }, payload.subarray(256, 384)),
    chunk({ fmt: 3, csid: 6 }, payload.subarray(384)),
  ]);
  assert.deepEqual(readAll(input), [msg(9, 70, 1, payload)]);
});

test('a 4 MiB message at chunk size 8 MiB, fed in 1326-byte slices (KCP segments), without re-copying the partial chunk', () => {
  const reader = new ChunkReader();
  reader.setChunkSize(8 * 1024 * 1024);
  const payload = bytes(4 * 1024 * 1024, 9);
  const input = Buffer.concat([
    chunk({ fmt: 0, csid: 6, ts: 1234, length: payload.length, type: 9, streamId: 1 }, payload),
    chunk({ fmt: 0, csid: 4, ts: 1240, length: 3, type: 8, streamId: 1 }, 'aac'),
  ]);
  const out: RtmpMessage[] = [];
  // Count what the reader copies through Buffer.concat / Buffer.from: the payload
  // itself is copied once into its message buffer, nothing is copied again per read.
  const { concat, from } = Buffer;
  let copiedBytes = 0;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    const b = concat(list, total);
    copiedBytes += b.length;
    return b;
  }) as typeof Buffer.concat;
  Buffer.from = ((...args: Parameters<typeof Buffer.from>) => {
    const b = (from as (...a: unknown[]) => Buffer)(...args);
    copiedBytes += b.length;
    return b;
  }) as typeof Buffer.from;
  try {
    for (let i = 0; i < input.length; i += 1326) reader.push(input.subarray(i, i + 1326), (m) => out.push(m));
  } finally {
    Buffer.concat = concat;
    Buffer.from = from;
  }
  assert.equal(out.length, 2);
  assert.equal(out[0]!.timestamp, 1234);
  assert.ok(out[0]!.payload.equals(payload), 'the 4 MiB payload is intact');
  assert.deepEqual(out[1], msg(8, 1240, 1, 'aac'));
  assert.ok(copiedBytes < 64 * 1024, `the reader copied ${copiedBytes} bytes besides the message buffers`);
  assert.equal(reader.bufferedBytes, 0);
});

const MiB = 1024 * 1024;

test('64 chunk streams each declaring an 8 MiB message are refused at the 16 MiB partial-message cap', () => {
  const reader = new ChunkReader(); // defaults: 8 MiB messages, 64 chunk streams, 16 MiB partly received
  const out: RtmpMessage[] = [];
  let opened = 0;
  let error: unknown;
  try {
    for (let csid = 3; csid < 3 + 64; csid++) {
      reader.push(chunk({ fmt: 0, csid, ts: 0, length: 8 * MiB, type: 9, streamId: 1 }, bytes(128)), (m) => out.push(m));
      opened++;
    }
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof RtmpProtocolError, `expected a protocol error, got ${String(error)}`);
  assert.equal(error.message, `message of ${8 * MiB} bytes on chunk stream 5 would bring partly received messages to ${24 * MiB} bytes, over the ${16 * MiB}-byte limit`);
  assert.equal(opened, 2, 'two maximum-size messages fit; the third is refused');
  assert.equal(reader.reservedBytes, 16 * MiB, 'the refused message was never allocated (512 MiB without the cap)');
  assert.deepEqual(out, []);
});

test('the partial-message cap counts declared lengths, and is configurable', () => {
  const reader = new ChunkReader({ maxMessageSize: 1000, maxChunkStreams: 64, maxPartialBytes: 1500 });
  readAll(chunk({ fmt: 0, csid: 4, length: 1000, type: 9 }, bytes(128)), reader);
  readAll(chunk({ fmt: 0, csid: 5, length: 500, type: 8 }, bytes(128)), reader);
  assert.equal(reader.reservedBytes, 1500);
  assert.throws(() => readAll(chunk({ fmt: 0, csid: 6, length: 1, type: 8 }, 'x'), reader), /chunk stream 6 would bring partly received messages to 1501 bytes, over the 1500-byte limit/);
});

test('reservations are released when messages complete and when chunk streams are aborted, so a long stream never hits the cap', () => {
  // Exactly the cap in flight at once: a maximum-size video and a maximum-size data message, interleaved.
  const reader = new ChunkReader({ maxMessageSize: 4096, maxChunkStreams: 8, maxPartialBytes: 8192 });
  const video = bytes(4096, 1);
  const data = bytes(4096, 2);
  let received = 0;
  for (let i = 0; i < 500; i++) {
    const parts: Buffer[] = [];
    for (let p = 0; p < 4096; p += 128) {
      parts.push(chunk(p === 0 ? { fmt: 0, csid: 6, ts: i, length: 4096, type: 9, streamId: 1 } : { fmt: 3, csid: 6 }, video.subarray(p, p + 128)));
      parts.push(chunk(p === 0 ? { fmt: 0, csid: 5, ts: i, length: 4096, type: 18, streamId: 1 } : { fmt: 3, csid: 5 }, data.subarray(p, p + 128)));
    }
    // ...and a maximum-size message on a third chunk stream that is given up half way (Abort).
    parts.push(chunk({ fmt: 0, csid: 7, ts: i, length: 4096, type: 9, streamId: 1 }, bytes(128)));
    const input = Buffer.concat(parts);
    // Fed in odd slices, so chunk headers and payloads split across reads.
    for (let o = 0; o < input.length; o += 1000) {
      reader.push(input.subarray(o, o + 1000), (m) => {
        assert.ok(m.payload.equals(m.type === 9 ? video : data));
        received++;
      });
    }
    assert.equal(reader.reservedBytes, 4096, 'only the message on chunk stream 7 is in progress');
    reader.abort(7);
    assert.equal(reader.reservedBytes, 0);
    reader.abort(7); // aborting a chunk stream with nothing in progress releases nothing twice
    reader.abort(99); // nor does an unknown one
    assert.equal(reader.reservedBytes, 0);
  }
  assert.equal(received, 1000);
});

test('with the default limits, 8 MiB keyframes alongside 8 MiB metadata, message after message, stay within the cap', () => {
  const reader = new ChunkReader();
  reader.setChunkSize(1 * MiB);
  const big = bytes(8 * MiB, 4);
  let received = 0;
  for (let i = 0; i < 6; i++) {
    const parts: Buffer[] = [];
    for (let p = 0; p < big.length; p += MiB) {
      const slice = big.subarray(p, p + MiB);
      parts.push(chunk(p === 0 ? { fmt: 0, csid: 6, ts: i * 40, length: big.length, type: 9, streamId: 1 } : { fmt: 3, csid: 6 }, slice));
      parts.push(chunk(p === 0 ? { fmt: 0, csid: 5, ts: i * 40, length: big.length, type: 18, streamId: 1 } : { fmt: 3, csid: 5 }, slice));
    }
    for (const part of parts) reader.push(part, (m) => { assert.equal(m.payload.length, big.length); received++; });
    assert.equal(reader.reservedBytes, 0);
  }
  assert.equal(received, 12);
});
