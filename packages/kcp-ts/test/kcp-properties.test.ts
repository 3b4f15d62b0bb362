import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Kcp, KCP_OVERHEAD, decodeHeader, encodeHeader, inspectDatagram } from 'kcp-ts';
import { VirtualLink, drainMessages, seededRandom } from './virtual-link.js';

/** Small by default to keep `npm test` fast; FUZZ_RUNS=1000 for a deeper search. */
const numRuns = Number(process.env.FUZZ_RUNS ?? 40);

const u32 = fc.integer({ min: 0, max: 0xffffffff });

test('header encode/decode round-trips every field', () => {
  const header = fc.record({
    conv: u32,
    cmd: fc.integer({ min: 0, max: 255 }),
    frg: fc.integer({ min: 0, max: 255 }),
    wnd: fc.integer({ min: 0, max: 0xffff }),
    ts: u32,
    sn: u32,
    una: u32,
    len: u32,
  });
  fc.assert(
    fc.property(header, fc.integer({ min: 0, max: 16 }), (value, offset) => {
      const buffer = new Uint8Array(offset + KCP_OVERHEAD);
      assert.equal(encodeHeader(buffer, offset, value), offset + KCP_OVERHEAD);
      assert.deepEqual(decodeHeader(buffer, offset), { ...value });
    }),
    { numRuns: numRuns * 20 },
  );
});

const impairment = fc.record({
  loss: fc.double({ min: 0, max: 0.3, noNaN: true }),
  duplicate: fc.double({ min: 0, max: 0.2, noNaN: true }),
  reorder: fc.double({ min: 0, max: 0.3, noNaN: true }),
  delayMs: fc.integer({ min: 1, max: 60 }),
  jitterMs: fc.integer({ min: 0, max: 30 }),
});

/** Messages from empty to ~13 segments (mtu 500); fc.uint8Array alone would mostly yield a few bytes. */
const message = fc.tuple(fc.integer({ min: 0, max: 6000 }), fc.integer()).map(([length, seed]) => {
  const random = seededRandom(seed);
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
});

test('messages cross a lossy, reordering, duplicating path intact and in order, both ways', () => {
  fc.assert(
    fc.property(
      impairment,
      fc.array(message, { minLength: 1, maxLength: 30 }),
      fc.array(message, { maxLength: 10 }),
      fc.integer(),
      fc.boolean(),
      (path, aToB, bToA, seed, stream) => {
        const link = new VirtualLink(path, seededRandom(seed), {
          both: { nodelay: 1, interval: 10, resend: 2, nc: true, stream, mtu: 500, sndWnd: 64 },
        });
        for (const message of aToB) assert.equal(link.a.send(message), 0);
        for (const message of bToA) assert.equal(link.b.send(message), 0);
        const atB: Uint8Array[] = [];
        const atA: Uint8Array[] = [];
        for (let step = 0; step < 600 && (link.a.waitsnd() > 0 || link.b.waitsnd() > 0); step++) {
          link.advance(50);
          atB.push(...drainMessages(link.b));
          atA.push(...drainMessages(link.a));
        }
        link.advance(500);
        atB.push(...drainMessages(link.b));
        atA.push(...drainMessages(link.a));
        if (stream) {
          // Stream mode keeps bytes, not boundaries.
          assert.deepEqual(Buffer.concat(atB), Buffer.concat(aToB));
          assert.deepEqual(Buffer.concat(atA), Buffer.concat(bToA));
        } else {
          assert.deepEqual(atB, aToB);
          assert.deepEqual(atA, bToA);
        }
      },
    ),
    { numRuns },
  );
});

test('garbage fed to input never throws, is rejected with a code and counted', () => {
  const conv = 0x01020304;
  const validPush = new Uint8Array(KCP_OVERHEAD + 8);
  encodeHeader(validPush, 0, { conv, cmd: 81, frg: 0, wnd: 32, ts: 0, sn: 0, una: 0, len: 8 });
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    // Mutations of a valid datagram keep the conv, so they reach the deeper checks.
    fc.tuple(fc.integer({ min: 4, max: validPush.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: validPush.length })).map(
      ([index, value, cut]) => {
        const mutated = validPush.slice(0, Math.max(cut, index + 1));
        mutated[index] = value;
        return mutated;
      },
    ),
  );
  fc.assert(
    fc.property(fc.array(garbage, { minLength: 1, maxLength: 50 }), (datagrams) => {
      const kcp = new Kcp(conv, () => {}, { nodelay: 1, interval: 10 });
      let rejected = 0;
      let now = 0;
      for (const datagram of datagrams) {
        const result = kcp.input(datagram);
        const inspection = inspectDatagram(datagram);
        if (result < 0) rejected++;
        // Whatever the endpoint's pre-check accepts, KCP accepts as well.
        if (inspection.ok && inspection.conv === conv) assert.equal(result, 0);
        kcp.update((now += 10));
      }
      assert.equal(kcp.stats.invalidDatagrams, rejected);
      assert.equal(kcp.stats.datagramsReceived, datagrams.length);
    }),
    { numRuns: numRuns * 4 },
  );
});
