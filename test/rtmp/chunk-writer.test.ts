/**
 * The chunk writer, checked by reading its output back with the chunk
 * reader: any sequence of messages, any chunk size, any split of the byte
 * stream. FUZZ_RUNS=10000 runs the property longer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ChunkReader } from '@bridgecast/media/rtmp/chunk-reader.js';
import { chunkedLength, encodeChunks } from '@bridgecast/media/rtmp/chunk-writer.js';
import type { RtmpMessage } from '@bridgecast/media/rtmp/messages.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

const message = fc.record({
  csid: fc.oneof(fc.integer({ min: 2, max: 63 }), fc.integer({ min: 64, max: 319 }), fc.integer({ min: 320, max: 65599 })),
  type: fc.integer({ min: 1, max: 255 }),
  streamId: fc.oneof(fc.constant(1), fc.nat()),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 0xfffffe }), fc.constant(0xffffff), fc.integer({ min: 0x1000000, max: 0xffffffff })),
  payload: fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
});

test('encodeChunks output reads back as the same messages, however the bytes are split', () => {
  fc.assert(fc.property(
    fc.array(message, { minLength: 1, maxLength: 12 }),
    fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(128, 4096, 65536)),
    fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 20 }),
    (messages, chunkSize, cuts) => {
      const encoded = messages.map((m) => encodeChunks(m.csid, m.type, m.streamId, m.timestamp, m.payload, chunkSize));
      encoded.forEach((e, i) => {
        const m = messages[i]!;
        assert.equal(e.length, chunkedLength(m.payload.length, m.csid, m.timestamp, chunkSize));
      });
      const wire = Buffer.concat(encoded);
      const reader = new ChunkReader({ maxMessageSize: 1 << 20, maxChunkStreams: 100 });
      reader.setChunkSize(chunkSize);
      const out: RtmpMessage[] = [];
      // Split the byte stream at arbitrary points, cycling through the cut sizes.
      for (let offset = 0, i = 0; offset < wire.length; i++) {
        const end = Math.min(wire.length, offset + cuts[i % cuts.length]!);
        reader.push(wire.subarray(offset, end), (m) => out.push(m));
        offset = end;
      }
      assert.deepEqual(out, messages.map((m) => ({ type: m.type, timestamp: m.timestamp, streamId: m.streamId, payload: m.payload })));
      assert.equal(reader.bufferedBytes, 0);
    },
  ), { numRuns: RUNS });
});
