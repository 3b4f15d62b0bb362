/**
 * AMF3 decoding of hand-built byte vectors (per the AMF 3 specification):
 * variable-length integers, the string, object and traits reference tables,
 * sealed and dynamic objects, arrays, and refusal of malformed input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAmf0 } from '@bridgecast/media/amf/amf0.js';
import { decodeAmf3 } from '@bridgecast/media/amf/amf3.js';
import { AmfError } from '@bridgecast/media/amf/amf-value.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const utf8 = (s: string) => Buffer.from(s).toString('hex');

test('U29 integers of every length, sign-extended', () => {
  const cases: [string, number][] = [
    ['04 00', 0],
    ['04 7f', 127],
    ['04 81 00', 128],
    ['04 ff 7f', 16383],
    ['04 81 80 00', 16384],
    ['04 bf ff ff ff', 0x0fffffff], // largest positive
    ['04 c0 80 80 00', -0x10000000], // smallest negative
    ['04 ff ff ff ff', -1],
  ];
  for (const [bytes, value] of cases) assert.deepEqual(decodeAmf3(hex(bytes)), [value], bytes);
});

test('scalars: undefined, null, booleans, double, date', () => {
  assert.deepEqual(decodeAmf3(hex('00 01 02 03 05 400921fb54442d18')), [undefined, null, false, true, Math.PI]);
  assert.deepEqual(decodeAmf3(hex('08 01 4272000000000000')), [new Date(1_236_950_581_248)]);
});

test('strings and string references; the empty string is never a reference target', () => {
  const defi = Buffer.from('défi'); // 5 UTF-8 bytes
  const vector = Buffer.concat([
    hex(`06 07 ${utf8('abc')}  06 01  06 00`), Buffer.from([0x06, (defi.length << 1) | 1]), defi, hex('06 02'),
  ]);
  assert.deepEqual(decodeAmf3(vector), ['abc', '', 'abc', 'défi', 'défi']);
});

test('sealed objects, traits references and object references', () => {
  // Class and member names in traits are bare UTF-8-vr strings (no marker).
  const vector = hex([
    // new object, inline traits: 1 sealed member, not dynamic: (1 << 4) | 0b0011
    '0a 13', `05 ${utf8('Pt')}`, `03 ${utf8('x')}`, '04 01',
    // new object reusing traits 0: (0 << 2) | 0b01
    '0a 01', '04 02',
    // reference to object 1
    '0a 02',
  ].join(''));
  assert.deepEqual(decodeAmf3(vector), [{ x: 1 }, { x: 2 }, { x: 2 }]);
});

test('dynamic objects with sealed and dynamic members, keys by string reference', () => {
  const vector = hex([
    // traits: 1 sealed member, dynamic: (1 << 4) | 0b1011; anonymous class
    '0a 1b', '01', `0b ${utf8('width')}`, '04 82 00',
    `0b ${utf8('codec')}`, `06 09 ${utf8('avc1')}`,
    `07 ${utf8('fps')}`, '04 1e',
    // key by reference: string table is width(0) codec(1) avc1(2) fps(3)
    '04', '03',
    '01',
  ].join(''));
  assert.deepEqual(decodeAmf3(vector), [{ width: 256, codec: 'avc1', fps: 30, avc1: true }]);
});

test('dense and mixed arrays', () => {
  assert.deepEqual(decodeAmf3(hex('09 05 01 04 01 04 02')), [[1, 2]]);
  assert.deepEqual(decodeAmf3(hex(`09 03 03 ${utf8('k')} 04 07 01 04 09`)), [{ k: 7, 0: 9 }]);
});

test('an AMF3 value inside AMF0 (avmplus switch), as in type 17 and 15 messages', () => {
  const command = Buffer.concat([
    hex(`02 0007 ${utf8('connect')} 00 3ff0000000000000`),
    hex(`11 0a 0b 01 07 ${utf8('app')} 06 09 ${utf8('live')} 01`),
  ]);
  assert.deepEqual(decodeAmf0(command), ['connect', 1, { app: 'live' }]);
});

test('malformed AMF3 throws AmfError', () => {
  const bad = {
    'unknown marker': '12',
    'string reference out of range': '06 02',
    'object reference out of range': '0a 04',
    'traits reference out of range': '0a 05',
    'externalizable object': `0a 07 03 ${utf8('E')}`,
    'truncated string': '06 09 61',
    'dense array count beyond the buffer': '09 ff ff ff 7f 01',
    'vector count beyond the buffer': '0d ff ff ff 7f 00',
  };
  for (const [what, bytes] of Object.entries(bad)) assert.throws(() => decodeAmf3(hex(bytes)), AmfError, what);
});

/**
 * Object n is { a: object n-1, b: reference to object n-1 }: 8 bytes a level,
 * but 2^n objects once the references are followed (as re-encoding does).
 */
function doublingObjects(levels: number): Buffer {
  // Object table: the outermost object is 0, the innermost `levels`. Strings: a = 0, b = 1.
  const open = (level: number) => (level === levels ? `0a 0b 01 03 ${utf8('a')}` : '0a 0b 01 00');
  let bytes = '0a 0b 01 01'; // the innermost object: dynamic, no members
  for (let level = 1; level <= levels; level++) {
    const child = levels - level + 1; // table index of the object just read
    const keyB = level === 1 ? `03 ${utf8('b')}` : '02';
    bytes = `${open(level)} ${bytes} ${keyB} 0a ${(child << 1).toString(16).padStart(2, '0')} 01`;
  }
  return hex(bytes);
}

test('object references that double at every level are refused by the decode budget, quickly', () => {
  assert.deepEqual(decodeAmf3(doublingObjects(2)), [{ a: { a: {}, b: {} }, b: { a: {}, b: {} } }]);
  const bomb = doublingObjects(20);
  assert.ok(bomb.length < 250, `${bomb.length} bytes`);
  const started = process.hrtime.bigint();
  assert.throws(() => decodeAmf3(bomb), (err: unknown) => err instanceof AmfError && /budget/.test(err.message));
  // Inside AMF0 (an onMetaData with an avmplus switch), as a publisher would send it.
  const metadata = Buffer.concat([hex(`02 000a ${utf8('onMetaData')} 11`), bomb]);
  assert.throws(() => decodeAmf0(metadata), AmfError);
  assert.ok(process.hrtime.bigint() - started < 1_000_000_000n);
});

test('the budget is shared by every avmplus switch of one AMF0 message', () => {
  const half = Buffer.concat([hex('11'), doublingObjects(10)]); // about 9 200 units: within the budget alone
  assert.equal(decodeAmf0(half).length, 1);
  assert.throws(() => decodeAmf0(Buffer.concat([half, half])), AmfError);
});

test('a long string repeated by reference counts its length against the budget', () => {
  const long = 'x'.repeat(2000);
  const u29 = '9f 21'; // (2000 << 1) | 1 as a U29
  // A dense array of n strings: the first inline, the rest references to it. Count U29s: 10 → 15, 500 → 87 69.
  const refs = (n: number) => Buffer.concat([hex(`09 ${n === 500 ? '87 69' : '15'} 01 06 ${u29} ${utf8(long)}`), hex('06 00'.repeat(n - 1))]);
  assert.equal((decodeAmf3(refs(10))[0] as string[]).length, 10);
  assert.throws(() => decodeAmf3(refs(500)), AmfError, '500 × 2000 characters from 3 KB');
});

test('an object that refers to itself (or an enclosing object) is refused', () => {
  // { self: <reference to object 0> }
  assert.throws(() => decodeAmf3(hex(`0a 0b 01 09 ${utf8('self')} 0a 00 01`)), /refers to itself/);
  // Referring to an object after it is complete is fine: [{}, <reference to object 1>]
  assert.deepEqual(decodeAmf3(hex('09 05 01 0a 0b 01 01 0a 02')), [[{}, {}]]);
});
