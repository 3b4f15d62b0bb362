/**
 * AMF0: encode/decode round trip over arbitrary values (property test;
 * FUZZ_RUNS=10000 runs it longer), known byte layouts, and refusal of
 * malformed input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeAmf0, encodeAmf0, encodeAmf0EcmaArray } from '@bridgecast/media/amf/amf0.js';
import { AmfError, type AmfValue } from '@bridgecast/media/amf/amf-value.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

const { value: amfValue } = fc.letrec<{ value: AmfValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.double(),
    fc.boolean(),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 12 }).filter((k) => k !== ''), tie('value'), { maxKeys: 5, noNullPrototype: true }),
  ),
}));

test('any sequence of AMF0 values round-trips', () => {
  fc.assert(fc.property(fc.array(amfValue, { maxLength: 6 }), (values) => {
    assert.deepEqual(decodeAmf0(encodeAmf0(...values)), values);
  }), { numRuns: RUNS });
});

test('a connect command has the byte layout clients expect', () => {
  const bytes = encodeAmf0('connect', 1, { app: 'live' }, null);
  assert.equal(bytes.toString('hex'), [
    '020007636f6e6e656374', // string "connect"
    '003ff0000000000000', // number 1
    '03', '0003617070', '0200046c697665', '000009', // { app: "live" }
    '05', // null
  ].join(''));
});

test('long strings, ECMA arrays, typed objects and the avmplus switch decode', () => {
  const long = 'x'.repeat(70_000);
  assert.deepEqual(decodeAmf0(encodeAmf0(long)), [long]);
  assert.equal(encodeAmf0(long)[0], 0x0c);
  assert.deepEqual(decodeAmf0(encodeAmf0EcmaArray({ width: 640, codec: 'avc1' })), [{ width: 640, codec: 'avc1' }]);
  // typed object "Pt" { x: 1 }
  assert.deepEqual(decodeAmf0(Buffer.from('100002507400017800' + '3ff0000000000000' + '000009', 'hex')), [{ x: 1 }]);
  // 0x11 switches to AMF3 for one value: the integer 5
  assert.deepEqual(decodeAmf0(Buffer.from('110405', 'hex')), [5]);
});

test('an object key "__proto__" is kept as data and does not replace the prototype', () => {
  const hostile = Buffer.from('03' + '0009' + Buffer.from('__proto__').toString('hex') + '03' + '0003617070' + '02000165' + '000009' + '000009', 'hex');
  const [decoded] = decodeAmf0(hostile) as [Record<string, unknown>];
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.equal(decoded.app, undefined, 'a property must not be inherited from a peer-supplied prototype');
  assert.deepEqual(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value, { app: 'e' });
});

test('malformed AMF0 throws AmfError', () => {
  const bad = {
    'unknown marker 0x20': '20',
    'reference marker (unsupported)': '070001',
    'truncated number': '003ff0',
    'string longer than the buffer': '0200ff61',
    'object without end': '0300016102000162',
    'empty key without object-end': '030000' + '05',
    'strict array count beyond the buffer': '0affffffff',
  };
  for (const [what, hex] of Object.entries(bad)) {
    assert.throws(() => decodeAmf0(Buffer.from(hex, 'hex')), AmfError, what);
  }
  let deep = '';
  for (let i = 0; i < 100; i++) deep += '0a00000001';
  assert.throws(() => decodeAmf0(Buffer.from(deep + '05', 'hex')), /nesting too deep/);
});
