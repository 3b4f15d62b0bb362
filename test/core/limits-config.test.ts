/** Limits from the environment: defaults, overrides, and combinations that cannot work refused at start-up. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadLimits } from '../../services/media/src/limits.js';

test('limits come from the environment, and a partial-message cap below the message size is refused', () => {
  const defaults = loadLimits({});
  assert.equal(defaults.rtmp.maxPartialBytes, 16 * 1024 * 1024);
  assert.equal(defaults.publisherTakeoverMs, 5000);
  const tuned = loadLimits({ RTMP_MAX_MESSAGE_BYTES: '1000000', RTMP_MAX_PARTIAL_BYTES: '1000000', PUBLISHER_TAKEOVER_MS: '2000' });
  assert.equal(tuned.rtmp.maxPartialBytes, 1_000_000);
  assert.equal(tuned.publisherTakeoverMs, 2000);
  assert.throws(() => loadLimits({ RTMP_MAX_MESSAGE_BYTES: String(32 * 1024 * 1024) }), /RTMP_MAX_PARTIAL_BYTES="16777216" is not valid: at least RTMP_MAX_MESSAGE_BYTES/);
  assert.throws(() => loadLimits({ PUBLISHER_TAKEOVER_MS: '0' }), /PUBLISHER_TAKEOVER_MS="0" is not valid: a positive integer/);
});
