import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlaybackAccess } from '@bridgecast/media/auth/playback-access.js';
import { signPlayToken, verifyPlayToken } from '@bridgecast/media/auth/play-token.js';
import { silentLogger } from '@bridgecast/media/logger.js';

const SECRET = 'test-secret';

test('a signed play token is accepted for its stream until it expires', () => {
  const now = 1_800_000_000;
  const token = signPlayToken(SECRET, 'live', 'st_abc', now + 60);
  assert.equal(verifyPlayToken(SECRET, 'live', 'st_abc', token, now), true);
  assert.equal(verifyPlayToken(SECRET, 'live', 'st_abc', token, now + 61), false, 'expired');
  assert.equal(verifyPlayToken(SECRET, 'live', 'st_other', token, now), false, 'other stream');
  assert.equal(verifyPlayToken('other-secret', 'live', 'st_abc', token, now), false, 'other secret');
});

test('malformed tokens are refused', () => {
  for (const token of [null, '', '.', 'abc', '123', '123.', `${2e9}.x`, `${2e9}.${'A'.repeat(43)}`, 'NaN.abc']) {
    assert.equal(verifyPlayToken(SECRET, 'live', 's', token, 0), false, String(token));
  }
});

test('without a secret playback of public streams is open; with one the token is required', async () => {
  const access = (playTokenSecret: string | undefined) => new PlaybackAccess({ store: undefined, verifier: new Map(), playTokenSecret, logger: silentLogger });
  assert.equal(await access(undefined).authorizeStreamPlay('live', 's', new URLSearchParams(), '127.0.0.1'), true);
  const check = (query: URLSearchParams) => access(SECRET).authorizeStreamPlay('live', 's', query, '127.0.0.1');
  assert.equal(await check(new URLSearchParams()), false);
  const token = signPlayToken(SECRET, 'live', 's', Math.floor(Date.now() / 1000) + 60);
  assert.equal(await check(new URLSearchParams({ token })), true);
});
