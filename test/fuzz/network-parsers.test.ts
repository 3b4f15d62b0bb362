/**
 * Fuzzing of every parser that reads bytes from the network: arbitrary and
 * mutated input must end in a value, a dropped datagram or the parser's own
 * protocol error, never in another exception (which would be a crash path)
 * and never in unbounded memory. Bounded runs in `npm test`; FUZZ_RUNS=20000
 * (or `npm run test:fuzz`) searches longer.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { AmfError } from '@bridgecast/media/amf/amf-value.js';
import { decodeAmf0, encodeAmf0 } from '@bridgecast/media/amf/amf0.js';
import { decodeAmf3 } from '@bridgecast/media/amf/amf3.js';
import { parseAudioTag, parseVideoTag } from '@bridgecast/media/flv/tag.js';
import { requestPath } from '@bridgecast/media/http/responses.js';
import { inspectDatagram, Kcp } from 'kcp-ts';
import { ChunkReader } from '@bridgecast/media/rtmp/chunk-reader.js';
import { encodeChunks } from '@bridgecast/media/rtmp/chunk-writer.js';
import { findClientDigest, HANDSHAKE_SIZE, serverHandshakeResponse } from '@bridgecast/media/rtmp/handshake.js';
import { RtmpProtocolError } from '@bridgecast/media/rtmp/messages.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

/** Flips, overwrites or truncates a valid input at random places. */
const mutated = (valid: Buffer) =>
  fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat({ max: valid.length }))
    .map(([edits, cut]) => {
      const copy = Buffer.from(valid.subarray(0, Math.max(1, cut)));
      for (const [at, value] of edits) copy[at % copy.length] = value;
      return copy;
    });

function expectOnly(errorClass: new (...args: never[]) => Error, run: () => unknown): void {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof errorClass, `unexpected ${(err as Error).name}: ${(err as Error).message}`);
  }
}

test('RTMP chunk stream: random and mutated bytes give messages or RtmpProtocolError, with bounded buffering', () => {
  const limits = { maxMessageSize: 64 * 1024, maxChunkStreams: 8 };
  const valid = Buffer.concat([
    encodeChunks(3, 20, 0, 0, encodeAmf0('connect', 1, { app: 'live' }), 128),
    encodeChunks(6, 9, 1, 40, Buffer.alloc(700, 0x17), 128),
    encodeChunks(4, 8, 1, 0x1000000, Buffer.alloc(90, 0xaf), 128),
  ]);
  fc.assert(fc.property(fc.oneof(bytes(4000), mutated(valid)), fc.integer({ min: 1, max: 600 }), (input, step) => {
    const reader = new ChunkReader(limits);
    expectOnly(RtmpProtocolError, () => {
      for (let i = 0; i < input.length; i += step) {
        reader.push(input.subarray(i, i + step), (m) => assert.ok(m.payload.length <= limits.maxMessageSize));
      }
    });
    // What waits unparsed is at most one chunk header plus one chunk.
    assert.ok(reader.bufferedBytes <= 18 + reader.chunkSize + step, `buffered ${reader.bufferedBytes}`);
  }), { numRuns: RUNS });
});

test('RTMP handshake: any C1 gets a well-sized S0+S1+S2 and digest detection never throws', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: HANDSHAKE_SIZE, maxLength: HANDSHAKE_SIZE }), (c1) => {
    const buf = Buffer.from(c1);
    findClientDigest(buf);
    assert.equal(serverHandshakeResponse(buf).length, 1 + 2 * HANDSHAKE_SIZE);
  }), { numRuns: Math.ceil(RUNS / 3) });
});

test('AMF0 and AMF3: random and mutated bytes decode or throw AmfError', () => {
  const validAmf0 = encodeAmf0('onMetaData', { width: 1280, height: 720, encoder: 'obs', nested: { list: [1, 'two', null, true] } });
  fc.assert(fc.property(fc.oneof(bytes(600), mutated(validAmf0)), (input) => {
    expectOnly(AmfError, () => decodeAmf0(input));
    expectOnly(AmfError, () => decodeAmf3(input));
  }), { numRuns: RUNS * 3 });
});

test('FLV audio/video tag bodies: any bytes parse to a description or null, never throw', () => {
  fc.assert(fc.property(bytes(64), (body) => {
    const video = parseVideoTag(body);
    const audio = parseAudioTag(body);
    if (video) assert.equal(typeof video.keyframe, 'boolean');
    if (audio) assert.equal(typeof audio.sequenceHeader, 'boolean');
  }), { numRuns: RUNS * 3 });
});

test('HTTP request paths and query strings: decoded or refused (null), never thrown', () => {
  const pathChars = fc.constantFrom(...'/%.?&=#:@!$\'()*+,;aZ09-_~ \\'.split(''), '%2F', '%2e', '%00', '%E0%A4%A', '%C0%AF', '..');
  fc.assert(fc.property(fc.array(pathChars, { maxLength: 40 }).map((parts) => `/${parts.join('')}`), (url) => {
    const parsed = requestPath({ url } as IncomingMessage);
    if (parsed) assert.ok(parsed.path.startsWith('/'));
  }), { numRuns: RUNS * 3 });
});

test('KCP: arbitrary datagrams are classified and a session rejects or absorbs them without throwing', () => {
  const kcp = new Kcp(0x01020304, () => {});
  fc.assert(fc.property(fc.oneof(bytes(200), fc.uint8Array({ minLength: 24, maxLength: 80 }).map((a) => {
    const d = Buffer.from(a);
    d.writeUInt32LE(0x01020304, 0); // right conv, so the datagram reaches segment parsing
    d[4] = 81 + (d[4]! % 4); // a valid command
    return d;
  })), (datagram) => {
    const inspection = inspectDatagram(datagram);
    const code = kcp.input(datagram);
    if (!inspection.ok) assert.ok(code < 0, 'a datagram the inspector refuses is refused by the session too');
    kcp.update(Date.now() >>> 0);
  }), { numRuns: RUNS * 3 });
});
