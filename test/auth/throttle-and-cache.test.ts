import assert from 'node:assert/strict';
import { test } from 'node:test';
import { throttleKeyForAddress } from '@bridgecast/media/auth/address-key.js';
import { FailureThrottle } from '@bridgecast/media/auth/failure-throttle.js';
import { TtlCache } from '@bridgecast/media/auth/ttl-cache.js';

test('cache entries expire after their own TTL', () => {
  const cache = new TtlCache<string, string | null>(10);
  cache.set('good', 'st_1', 5000, 0);
  cache.set('bad', null, 1000, 0);
  assert.equal(cache.get('good', 999), 'st_1');
  assert.equal(cache.get('bad', 999), null, 'a cached negative is null, not a miss');
  assert.equal(cache.get('bad', 1000), undefined);
  assert.equal(cache.get('good', 4999), 'st_1');
  assert.equal(cache.get('good', 5000), undefined);
});

test('the cache is bounded and evicts the least recently used entry', () => {
  const cache = new TtlCache<number, number>(3);
  for (const n of [1, 2, 3]) cache.set(n, n, 60_000, 0);
  assert.equal(cache.get(1, 1), 1); // 1 is now the most recent
  cache.set(4, 4, 60_000, 2);
  assert.equal(cache.size, 3);
  assert.equal(cache.get(2, 3), undefined, 'least recently used went first');
  assert.equal(cache.get(1, 3), 1);
  for (let n = 0; n < 1000; n++) cache.set(100 + n, n, 60_000, 4);
  assert.equal(cache.size, 3);
});

const policy = { maxFailures: 3, windowMs: 10_000, blockMs: 30_000, maxAddresses: 2 };

test('an address is refused after N failures in the window, until the block ends', () => {
  const throttle = new FailureThrottle(policy);
  for (let i = 0; i < 2; i++) throttle.recordFailure('203.0.113.1', i * 1000);
  assert.deepEqual(throttle.check('203.0.113.1', 2000), { allowed: true });
  throttle.recordFailure('203.0.113.1', 2000);
  assert.deepEqual(throttle.check('203.0.113.1', 2000), { allowed: false, retryAfterMs: 30_000 });
  assert.deepEqual(throttle.check('203.0.113.2', 2000), { allowed: true }, 'other addresses are unaffected');
  assert.deepEqual(throttle.check('203.0.113.1', 31_999), { allowed: false, retryAfterMs: 1 });
  assert.deepEqual(throttle.check('203.0.113.1', 32_000), { allowed: true });
});

test('failures spread wider than the window never block', () => {
  const throttle = new FailureThrottle(policy);
  for (let i = 0; i < 10; i++) {
    throttle.recordFailure('203.0.113.1', i * 6000);
    assert.deepEqual(throttle.check('203.0.113.1', i * 6000), { allowed: true }, `failure ${i}`);
  }
});

test('a success clears the record; memory stays bounded by maxAddresses', () => {
  const throttle = new FailureThrottle(policy);
  throttle.recordFailure('a', 0);
  throttle.recordFailure('a', 0);
  throttle.recordSuccess('a');
  throttle.recordFailure('a', 1);
  assert.deepEqual(throttle.check('a', 1), { allowed: true }, 'count restarted after the success');

  const bounded = new FailureThrottle(policy);
  for (let i = 0; i < 3; i++) bounded.recordFailure('x', 0);
  assert.equal(bounded.check('x', 0).allowed, false);
  // A flood of other addresses evicts old records instead of growing without limit.
  for (let i = 0; i < 100; i++) bounded.recordFailure(`10.0.0.${i}`, 1);
  assert.equal(bounded.check('x', 2).allowed, true);
});

test('failures are counted per IPv4 address and per IPv6 /64', () => {
  assert.equal(throttleKeyForAddress('203.0.113.7'), '203.0.113.7');
  assert.equal(throttleKeyForAddress('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(throttleKeyForAddress('2001:db8:0:1::5'), '2001:db8:0:1::/64');
  assert.equal(throttleKeyForAddress('2001:0db8:0000:0001:aaaa:bbbb:cccc:dddd'), '2001:db8:0:1::/64');
  assert.equal(throttleKeyForAddress('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(throttleKeyForAddress('::1'), '0:0:0:0::/64');
});
