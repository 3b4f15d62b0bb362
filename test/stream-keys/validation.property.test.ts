import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ApiError } from '@bridgecast/contracts';
import { decodeBody, MAX_BODY_BYTES, MAX_NAME_LENGTH, parseCreateStreamBody } from '@bridgecast/stream-keys';

/** Runs the body validator as the handler does; returns the name or the ApiError. */
function validate(body: string, isBase64Encoded = false): { name: string } | ApiError {
  try {
    return parseCreateStreamBody(decodeBody(body, isBase64Encoded), 'application/json');
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err; // anything else would be a 500: the property fails
  }
}

/** What every accepted name must satisfy, stated independently of the validator's regex. */
function isSafeName(name: string): boolean {
  const chars = [...name];
  return (
    chars.length >= 1 &&
    chars.length <= MAX_NAME_LENGTH &&
    !/[\u0000-\u001f\u007f-\u009f/\\<>"'`%?#&:;*|{}[\]$]/.test(name) &&
    !name.includes('..') &&
    !/^[\s.\-_]/.test(name) &&
    !/\s$/.test(name) &&
    !/[\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff]/.test(name)
  );
}

const RUNS = { numRuns: 400, seed: 20300101 };

test('arbitrary bodies are either a safe name or a 4xx error, never an exception', () => {
  const bodies = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.json({ maxDepth: 3 }),
    fc.record({ name: fc.string({ unit: 'binary', maxLength: 80 }) }).map((o) => JSON.stringify(o)),
    fc.record({ name: fc.anything({ maxDepth: 2 }) }).map((o) => JSON.stringify(o) ?? 'undefined'),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map((o) => JSON.stringify(o)),
  );
  fc.assert(
    fc.property(bodies, fc.boolean(), (body, encode) => {
      const result = validate(encode ? Buffer.from(body).toString('base64') : body, encode);
      if (result instanceof ApiError) {
        assert.ok(result.status >= 400 && result.status < 500, `status ${result.status}`);
        assert.match(result.code, /^[a-z_]+$/);
      } else {
        assert.ok(isSafeName(result.name), `accepted unsafe name ${JSON.stringify(result.name)}`);
        assert.equal(result.name, JSON.parse(body).name, 'the name is passed through unchanged');
      }
    }),
    RUNS,
  );
});

test('names built from the allowed alphabet are accepted unchanged', () => {
  const allowed = fc.constantFrom(...'abcXYZ019 _-.한국語é'.split(''));
  const names = fc
    .tuple(fc.constantFrom('a', 'Z', '7', '한', 'é'), fc.array(allowed, { maxLength: MAX_NAME_LENGTH - 1 }))
    .map(([first, rest]) => first + rest.join(''))
    .filter((name) => !name.includes('..') && !name.endsWith(' '));
  fc.assert(
    fc.property(names, (name) => {
      assert.deepEqual(validate(JSON.stringify({ name })), { name, private: false });
    }),
    RUNS,
  );
});

test('bodies over the limit are 413 whatever their content', () => {
  fc.assert(
    fc.property(fc.integer({ min: MAX_BODY_BYTES + 1, max: MAX_BODY_BYTES * 3 }), fc.boolean(), (size, encode) => {
      const body = JSON.stringify({ name: 'a'.repeat(size) });
      const result = validate(encode ? Buffer.from(body).toString('base64') : body, encode);
      assert.ok(result instanceof ApiError && result.status === 413);
    }),
    { numRuns: 50, seed: 7 },
  );
});
