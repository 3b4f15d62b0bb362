import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FEC_HEADER_SIZE, FecCodec } from 'kcp-ts';
import { gfInverse, gfMul, matrixInvert, matrixMultiply } from '../src/fec/galois.js';
import { ReedSolomon } from 'kcp-ts';

describe('GF(2^8)', () => {
  it('every non-zero element has an inverse, and multiplication distributes over xor', () => {
    for (let a = 1; a < 256; a++) assert.equal(gfMul(a, gfInverse(a)), 1, `inverse of ${a}`);
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }),
      (a, b, c) => gfMul(a, b ^ c) === (gfMul(a, b) ^ gfMul(a, c)) && gfMul(a, b) === gfMul(b, a)));
  });

  it('inverts matrices (M · M⁻¹ = I) and refuses singular ones', () => {
    const m = [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6), Uint8Array.of(7, 8, 10)];
    const product = matrixMultiply(m, matrixInvert(m));
    assert.deepEqual(product.map((r) => [...r]), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    assert.throws(() => matrixInvert([Uint8Array.of(1, 2), Uint8Array.of(1, 2)]), /singular/);
  });
});

describe('ReedSolomon', () => {
  it('recovers the data from any dataShards of the shards (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 64 }), fc.integer(),
      (k, m, size, seed) => {
        const rs = new ReedSolomon(k, m);
        const data = Array.from({ length: k }, (_, i) => Buffer.from(Array.from({ length: size }, (_, j) => (seed * 31 + i * 17 + j * 7) & 0xff)));
        const parity = rs.encode(data);
        // Lose up to m shards, chosen by the seed.
        const shards: (Buffer | null)[] = [...data, ...parity].map((b) => Buffer.from(b));
        // A seeded partial Fisher-Yates shuffle picks which shards are lost
        // (always terminates, unlike probing indices until enough are distinct).
        const order = Array.from({ length: k + m }, (_, i) => i);
        const lostCount = Math.abs(seed) % (m + 1);
        for (let i = 0; i < lostCount; i++) {
          const j = i + (Math.abs(seed * 7919 + i * 104729) % (k + m - i));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        const lost = new Set(order.slice(0, lostCount));
        for (const i of lost) shards[i] = null;
        rs.reconstruct(shards);
        for (let i = 0; i < k; i++) assert.deepEqual(shards[i], data[i], `data shard ${i} of ${k}+${m}, lost ${[...lost]}`);
      },
    ), { numRuns: 300 });
  });

  it('every loss pattern of exactly `parity` shards is recoverable (10+3, exhaustive)', () => {
    const rs = new ReedSolomon(10, 3);
    const data = Array.from({ length: 10 }, (_, i) => Buffer.from(`shard-${i}-`.padEnd(24, String.fromCharCode(65 + i))));
    const all = [...data, ...rs.encode(data)];
    let patterns = 0;
    for (let a = 0; a < 13; a++) for (let b = a + 1; b < 13; b++) for (let c = b + 1; c < 13; c++) {
      const shards: (Buffer | null)[] = all.map((s, i) => (i === a || i === b || i === c ? null : s));
      rs.reconstruct(shards);
      for (let i = 0; i < 10; i++) assert.deepEqual(shards[i], data[i]);
      patterns++;
    }
    assert.equal(patterns, 286);
  });

  it('refuses to reconstruct from fewer than dataShards shards', () => {
    const rs = new ReedSolomon(4, 2);
    const data = Array.from({ length: 4 }, () => Buffer.alloc(8, 1));
    const shards: (Buffer | null)[] = [...data, ...rs.encode(data)];
    shards[0] = shards[1] = shards[4] = null;
    assert.throws(() => rs.reconstruct(shards), /too few shards/);
  });
});

/** Sends `datagrams` through an encoder, drops what `lose` says, feeds the rest (in `order`) to a decoder. */
function transfer(codec: [FecCodec, FecCodec], datagrams: Buffer[], lose: (i: number) => boolean, reorder = false): Buffer[] {
  const [tx, rx] = codec;
  const wire = [...datagrams.flatMap((d) => tx.encode(d)), ...tx.flush()].filter((_, i) => !lose(i));
  if (reorder) wire.reverse();
  return wire.flatMap((s) => rx.decode(s));
}

function sorted(buffers: Buffer[]): string[] {
  return buffers.map((b) => b.toString('hex')).sort();
}

describe('FecCodec', () => {
  const datagrams = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`kcp-datagram-${i}`.repeat(1 + (i % 5))));

  it('passes data through at once and sends parity after each group', () => {
    const tx = new FecCodec(3, 2);
    assert.equal(tx.encode(Buffer.from('a')).length, 1);
    assert.equal(tx.encode(Buffer.from('bb')).length, 1);
    const third = tx.encode(Buffer.from('ccc'));
    assert.equal(third.length, 3, 'the data shard then 2 parity shards');
    assert.equal(third[0]!.length, FEC_HEADER_SIZE + 2 + 3);
    assert.equal(third[1]!.length, FEC_HEADER_SIZE + 2 + 3, 'parity is as long as the longest body');
    const rx = new FecCodec(3, 2);
    assert.deepEqual(rx.decode(third[0]!), [Buffer.from('ccc')]);
  });

  it('recovers any loss of up to `parity` shards per group, in any order (property)', () => {
    fc.assert(fc.property(fc.array(fc.boolean(), { minLength: 65, maxLength: 65 }), fc.boolean(), (lossBits, reorder) => {
      const input = datagrams(50); // 5 full groups of 10 (+3 parity each) = 65 shards
      // At most 3 losses in each group of 13 shards.
      const lose = (i: number) => lossBits[i]! && lossBits.slice(i - (i % 13), i).filter(Boolean).length < 3;
      const out = transfer([new FecCodec(10, 3), new FecCodec(10, 3)], input, lose, reorder);
      assert.deepEqual(sorted(out), sorted(input));
    }), { numRuns: 200 });
  });

  it('closes a short group with flush() so its losses are recoverable too', () => {
    const input = datagrams(4);
    const out = transfer([new FecCodec(10, 3), new FecCodec(10, 3)], input, (i) => i === 0 || i === 2);
    assert.deepEqual(sorted(out), sorted(input));
  });

  it('delivers each datagram once despite duplicated shards', () => {
    const tx = new FecCodec(4, 2);
    const rx = new FecCodec(4, 2);
    const wire = datagrams(8).flatMap((d) => tx.encode(d));
    const out = [...wire, ...wire].flatMap((s) => rx.decode(s));
    assert.equal(out.length, 8);
    assert.equal(rx.stats.recovered, 0);
  });

  it('counts rebuilt shards and drops malformed or foreign ones without throwing', () => {
    const tx = new FecCodec(4, 2);
    const rx = new FecCodec(4, 2);
    const wire = datagrams(4).flatMap((d) => tx.encode(d));
    const out = wire.filter((_, i) => i !== 1).flatMap((s) => rx.decode(s));
    assert.equal(out.length, 4);
    assert.equal(rx.stats.recovered, 1);
    const foreign = new FecCodec(5, 2).encode(Buffer.from('x'))[0]!;
    const overlong = Buffer.from(wire[0]!);
    overlong.writeUInt16LE(60_000, FEC_HEADER_SIZE);
    for (const bad of [Buffer.alloc(3), foreign, overlong, Buffer.alloc(40, 0xff)]) assert.deepEqual(rx.decode(bad), []);
    assert.equal(rx.stats.malformed, 4);
  });
});
