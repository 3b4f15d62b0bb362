import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { hashStreamKey } from '@bridgecast/stream-keys';
import type { StreamKeyStore } from '@bridgecast/stream-keys';
import { OpenAuthorizer, StreamKeyAuthorizer, type StreamKeyAuthorizerOptions } from '@bridgecast/media/auth/publish-authorizer.js';
import { startRevocationWatch } from '@bridgecast/media/auth/revocation-watch.js';
import { startTestTable, type TestTable } from '../stream-keys/fixtures.js';

let table: TestTable;
before(async () => {
  table = await startTestTable();
});
after(() => table.close());

/** The real store, counting how often the authorizer reaches it. */
function countingStore(store: StreamKeyStore) {
  const counts = { resolveKey: 0 };
  return {
    counts,
    store: {
      resolveKeyHash: (keyHash: string) => {
        counts.resolveKey++;
        return store.resolveKeyHash(keyHash);
      },
      isStreamActive: (id: string) => store.isStreamActive(id),
    },
  };
}

function authorizer(options: Partial<StreamKeyAuthorizerOptions> & { clock?: { now: number } } = {}) {
  const counted = countingStore(table.store);
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const clock = options.clock ?? { now: 1_000_000 };
  const auth = new StreamKeyAuthorizer({ store: counted.store, logger, now: () => clock.now, ...options });
  return { auth, counts: counted.counts, lines, clock };
}

const request = (key: string, remoteAddress = '198.51.100.1') => ({ app: 'live', key, remoteAddress });

test('a valid key resolves to its stream id; the lookup is cached for the positive TTL', async () => {
  const { stream, streamKey } = await table.store.createStream('auth-ok');
  const { auth, counts, clock } = authorizer({ cache: { maxEntries: 10, positiveTtlMs: 5000, negativeTtlMs: 1000 } });
  assert.deepEqual(await auth.authorizePublish(request(streamKey)), { ok: true, streamId: stream.streamId });
  clock.now += 4999;
  assert.deepEqual(await auth.authorizePublish(request(streamKey)), { ok: true, streamId: stream.streamId });
  assert.equal(counts.resolveKey, 1, 'second attempt served from the cache');
  clock.now += 1;
  await auth.authorizePublish(request(streamKey));
  assert.equal(counts.resolveKey, 2, 'expired entry looked up again');
});

test('unknown keys are refused and cached only briefly; a rotated-out key is refused once the cache expires', async () => {
  const { stream, streamKey } = await table.store.createStream('auth-rotate');
  const { auth, counts, clock } = authorizer({ cache: { maxEntries: 10, positiveTtlMs: 5000, negativeTtlMs: 1000 } });
  const unknown = 'sk_' + 'A'.repeat(43);
  const refused = await auth.authorizePublish(request(unknown));
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.code, 'Unauthorized');
  await auth.authorizePublish(request(unknown));
  assert.equal(counts.resolveKey, 1, 'negative answer cached');
  clock.now += 1000;
  await auth.authorizePublish(request(unknown));
  assert.equal(counts.resolveKey, 2, 'negative TTL is short');

  assert.equal((await auth.authorizePublish(request(streamKey, '198.51.100.2'))).ok, true);
  const { streamKey: newKey } = await table.store.rotateKey(stream.streamId);
  clock.now += 5000;
  assert.equal((await auth.authorizePublish(request(streamKey, '198.51.100.2'))).ok, false, 'old key refused');
  assert.deepEqual(await auth.authorizePublish(request(newKey, '198.51.100.2')), { ok: true, streamId: stream.streamId });
});

test('forgetStream drops a stream\'s cached keys at once, so a rotated-out or revoked key is refused without waiting for the TTL', async () => {
  const rotated = await table.store.createStream('forget-rotate');
  const revoked = await table.store.createStream('forget-revoke');
  const other = await table.store.createStream('forget-other');
  const { auth, counts } = authorizer({ cache: { maxEntries: 10, positiveTtlMs: 60_000, negativeTtlMs: 1000 } });
  for (const { streamKey } of [rotated, revoked, other]) assert.equal((await auth.authorizePublish(request(streamKey))).ok, true);

  const { streamKey: newKey } = await table.store.rotateKey(rotated.stream.streamId);
  auth.forgetStream(rotated.stream.streamId);
  await table.store.revokeStream(revoked.stream.streamId);
  auth.forgetStream(revoked.stream.streamId);
  // The clock has not moved: without forgetStream both old keys would still be served from the cache.
  assert.equal((await auth.authorizePublish(request(rotated.streamKey))).ok, false, 'rotated-out key refused at once');
  assert.equal((await auth.authorizePublish(request(revoked.streamKey))).ok, false, 'revoked key refused at once');
  assert.deepEqual(await auth.authorizePublish(request(newKey)), { ok: true, streamId: rotated.stream.streamId });
  const lookups = counts.resolveKey;
  assert.equal((await auth.authorizePublish(request(other.streamKey))).ok, true);
  assert.equal(counts.resolveKey, lookups, 'other streams stay cached');
});

test('a lookup in flight while a key is rotated does not cache the old answer', async () => {
  const { stream, streamKey } = await table.store.createStream('forget-race');
  let readDone!: () => void;
  const read = new Promise<void>((resolve) => (readDone = resolve));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const store = {
    // An answer read before the rotation, delivered after it: a table read racing the rotate.
    resolveKeyHash: async (keyHash: string) => {
      const answer = await table.store.resolveKeyHash(keyHash);
      readDone();
      await gate;
      return answer;
    },
    isStreamActive: (id: string) => table.store.isStreamActive(id),
  };
  const { auth } = authorizer({ store, cache: { maxEntries: 10, positiveTtlMs: 60_000, negativeTtlMs: 1000 } });
  const inFlight = auth.authorizePublish(request(streamKey));
  await read;
  await table.store.rotateKey(stream.streamId);
  auth.forgetStream(stream.streamId);
  release();
  assert.equal((await inFlight).ok, true, 'the publish that raced the rotation got in');
  assert.equal((await auth.authorizePublish(request(streamKey))).ok, false, 'but its answer was not cached');
});

test('malformed keys and app names are refused without a table lookup', async () => {
  const { auth, counts } = authorizer({ throttle: { maxFailures: 1000, windowMs: 1000, blockMs: 1000, maxAddresses: 10 } });
  const malformed = ['', 'demo', 'sk_', 'sk_short', `sk_${'A'.repeat(42)}`, `sk_${'A'.repeat(44)}`, `sk_${'A'.repeat(42)}/`, `sk_${'A'.repeat(42)}%`, `../sk_${'A'.repeat(40)}`, `sk_${'A'.repeat(42)}\n`, 'x'.repeat(10_000)];
  for (const key of malformed) {
    const decision = await auth.authorizePublish(request(key));
    assert.deepEqual(decision, { ok: false, code: 'BadName', reason: 'malformed stream key' }, JSON.stringify(key).slice(0, 60));
  }
  const badApp = await auth.authorizePublish({ app: '../etc', key: `sk_${'A'.repeat(43)}`, remoteAddress: '198.51.100.3' });
  assert.equal(!badApp.ok && badApp.code, 'BadName');
  assert.equal(counts.resolveKey, 0);
});

test('repeated failures from one address are rate limited, others are not; logs never contain the key', async () => {
  const { streamKey } = await table.store.createStream('auth-throttle');
  const { auth, counts, lines, clock } = authorizer({ throttle: { maxFailures: 3, windowMs: 60_000, blockMs: 60_000, maxAddresses: 100 } });
  const guess = 'sk_' + 'B'.repeat(43);
  for (let i = 0; i < 3; i++) assert.equal((await auth.authorizePublish(request(guess, '192.0.2.9'))).ok, false);
  const limited = await auth.authorizePublish(request(streamKey, '192.0.2.9'));
  assert.equal(!limited.ok && limited.code, 'RateLimited', 'even the right key waits out the block');
  const lookups = counts.resolveKey;
  await auth.authorizePublish(request(guess, '192.0.2.9'));
  assert.equal(counts.resolveKey, lookups, 'a blocked address costs no lookups');
  assert.equal((await auth.authorizePublish(request(streamKey, '192.0.2.10'))).ok, true, 'other addresses unaffected');
  clock.now += 60_000;
  assert.equal((await auth.authorizePublish(request(streamKey, '192.0.2.9'))).ok, true, 'allowed after the block');

  const log = lines.join('');
  assert.ok(log.includes(hashStreamKey(guess).slice(0, 8)), 'failures are logged with a key fingerprint');
  for (const secret of [streamKey, guess, hashStreamKey(streamKey), hashStreamKey(guess)]) assert.ok(!log.includes(secret), 'key leaked into logs');
});

test('isStreamActive turns false when the stream is revoked', async () => {
  const { stream } = await table.store.createStream('auth-revoke');
  const { auth } = authorizer();
  assert.equal(await auth.isStreamActive(stream.streamId), true);
  await table.store.revokeStream(stream.streamId);
  assert.equal(await auth.isStreamActive(stream.streamId), false);
  assert.equal(await auth.isStreamActive('st_doesnotexist00'), false);
});

test('AUTH=none: the stream name is the stream id, unsafe names are refused', async () => {
  const open = new OpenAuthorizer();
  assert.deepEqual(await open.authorizePublish(request('camera-1')), { ok: true, streamId: 'camera-1' });
  for (const name of ['', '../x', 'a/b', 'a b', '..', `a${'\u0000'}`]) {
    const decision = await open.authorizePublish(request(name));
    assert.equal(!decision.ok && decision.code, 'BadName', JSON.stringify(name));
  }
  assert.equal(await open.isStreamActive('camera-1'), true);
});

test('the revocation watch reports a revoked live stream within one interval, and only that one', async () => {
  const { stream: kept } = await table.store.createStream('watch-kept');
  const { stream: revoked } = await table.store.createStream('watch-revoked');
  const { auth } = authorizer();
  const reported: string[] = [];
  const watch = startRevocationWatch({
    authorizer: auth,
    liveStreamIds: () => [kept.streamId, revoked.streamId],
    onRevoked: (id) => void reported.push(id),
    logger: pino({ level: 'silent' }),
    intervalMs: 50,
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(reported.length, 0, 'nothing revoked yet');
    await table.store.revokeStream(revoked.streamId);
    const revokedAt = Date.now();
    while (reported.length === 0 && Date.now() - revokedAt < 2000) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(reported[0], revoked.streamId);
    assert.ok(!reported.includes(kept.streamId));
  } finally {
    watch.stop();
  }
});
