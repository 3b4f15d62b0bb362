import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from '@bridgecast/media/relay/backoff.js';
import { RelayAuthorizer } from '@bridgecast/media/relay/relay-auth.js';
import { loadRelayConfig, matchesStreamPattern, parsePushList } from '@bridgecast/media/relay/relay-config.js';
import { parseRelayQuery, signedRelayName, signRelayToken, verifyRelayToken } from '@bridgecast/media/relay/relay-token.js';
import { splitStreamName } from '@bridgecast/media/rtmp/names.js';

describe('relay tokens', () => {
  const claims = { app: 'live', name: 'st_abc', expiresAt: 2_000_000_000, via: ['origin-1'] };
  const token = signRelayToken('s3cret', claims);

  it('verifies only the exact claims with the right secret, before expiry', () => {
    assert.equal(verifyRelayToken('s3cret', claims, token, 1_900_000_000), 'ok');
    assert.equal(verifyRelayToken('other', claims, token, 1_900_000_000), 'bad-signature');
    assert.equal(verifyRelayToken('s3cret', { ...claims, name: 'st_abd' }, token, 1_900_000_000), 'bad-signature');
    assert.equal(verifyRelayToken('s3cret', { ...claims, via: [] }, token, 1_900_000_000), 'bad-signature', 'the chain cannot be stripped');
    assert.equal(verifyRelayToken('s3cret', { ...claims, app: 'vod' }, token, 1_900_000_000), 'bad-signature');
    assert.equal(verifyRelayToken('s3cret', claims, token, 2_000_000_001), 'expired');
    assert.equal(verifyRelayToken('s3cret', claims, `${token}x`, 1_900_000_000), 'bad-signature');
  });

  it('round-trips through the stream name query', () => {
    const { name, query } = splitStreamName(signedRelayName('s3cret', 'live', 'st_abc', ['a', 'b'], 60, 1000));
    assert.equal(name, 'st_abc');
    assert.deepEqual(parseRelayQuery(query), { token: query.get('relay'), expiresAt: 1060, via: ['a', 'b'] });
    assert.equal(parseRelayQuery(new URLSearchParams('token=x')), null, 'not a relay request');
    assert.equal(parseRelayQuery(new URLSearchParams('relay=x&exp=soon')), 'malformed');
    assert.equal(parseRelayQuery(new URLSearchParams('relay=x&exp=1&via=a%20b')), 'malformed');
  });
});

describe('RelayAuthorizer', () => {
  let now = 1_000_000;
  const edge = new RelayAuthorizer('edge', 'k', 60, () => now);
  const origin = new RelayAuthorizer('origin', 'k', 60, () => now);

  it('leaves non-relay requests to the normal checks and decides relay ones', () => {
    assert.equal(edge.authorizePublish('live', 'cam', new URLSearchParams()), null);
    assert.equal(edge.authorizePlay('live', 'cam', new URLSearchParams('token=abc')), null);
    const { query } = splitStreamName(origin.outgoingName('live', 'cam'));
    assert.deepEqual(edge.authorizePublish('live', 'cam', query), { ok: true, streamId: 'cam' });
    assert.equal(edge.authorizePlay('live', 'cam', query), true);
    assert.equal(edge.authorizePlay('live', 'dog', query), false, 'a token is for one stream');
    now += 61_000;
    assert.equal(edge.authorizePlay('live', 'cam', query), false, 'expired');
    assert.equal(new RelayAuthorizer('x', undefined).authorizePlay('live', 'cam', query), false, 'no secret here: relays refused');
  });

  it('extends the chain a request arrived with, and refuses its own id in it', () => {
    const { query } = splitStreamName(origin.outgoingName('live', 'cam'));
    assert.equal(edge.authorizePlay('live', 'cam', query), true);
    assert.deepEqual(edge.outgoingVia('live', 'cam'), ['origin', 'edge']);
    assert.deepEqual(edge.outgoingVia('live', 'other'), ['edge']);
    const { query: back } = splitStreamName(edge.outgoingName('live', 'cam'));
    const decision = origin.authorizePublish('live', 'cam', back);
    assert.equal(decision?.ok, false);
    assert.match(decision!.ok ? '' : decision!.reason, /relay loop: origin → edge → origin/);
  });
});

describe('relay configuration', () => {
  it('parses RELAY_PUSH, merging entries per target', () => {
    const targets = parsePushList('kcp://edge1:1935=live/*, rtmp://edge2:1935=live/st_abc,kcp://edge1:1935=news/*');
    assert.deepEqual(targets.map((t) => [t.url.href, t.streams]), [
      ['kcp://edge1:1935', ['live/*', 'news/*']],
      ['rtmp://edge2:1935', ['live/st_abc']],
    ]);
    assert.throws(() => parsePushList('http://x=live/*'), /kcp:\/\/host:port/);
    assert.throws(() => parsePushList('kcp://x:1'), /<url>=/);
    assert.throws(() => parsePushList('kcp://x:1=live/../x'), /pattern/);
  });

  it('matches stream patterns within one path segment', () => {
    assert.equal(matchesStreamPattern('live/*', 'live', 'st_abc'), true);
    assert.equal(matchesStreamPattern('live/st_*', 'live', 'st_abc'), true);
    assert.equal(matchesStreamPattern('live/st_abc', 'live', 'st_abcd'), false);
    assert.equal(matchesStreamPattern('live/*', 'news', 'st_abc'), false);
    assert.equal(matchesStreamPattern('*/*', 'news', 'a.b'), true);
  });

  it('loads the environment and a JSON file together', () => {
    const config = loadRelayConfig({
      SERVER_ID: 'seoul-1', RELAY_SECRET: 'k', RELAY_ORIGIN: 'kcp://origin.example:1935', RELAY_IDLE_SECONDS: '30',
      RELAY_PUSH: 'kcp://hk:1935=live/*', RELAY_CONFIG: '/etc/relay.json',
    }, { readFile: () => JSON.stringify({ push: [{ url: 'rtmp://cn:1935', streams: ['live/st_x'] }] }) });
    assert.equal(config.serverId, 'seoul-1');
    assert.equal(config.origin?.href, 'kcp://origin.example:1935');
    assert.equal(config.idleSeconds, 30);
    assert.deepEqual(config.push.map((t) => t.url.href), ['rtmp://cn:1935', 'kcp://hk:1935']);
    const defaults = loadRelayConfig({});
    assert.match(defaults.serverId, /^srv-[0-9a-f]{8}$/);
    assert.equal(defaults.secret, undefined);
    assert.equal(defaults.origin, undefined);
    assert.throws(() => loadRelayConfig({ SERVER_ID: 'a,b' }), /SERVER_ID/);
    assert.throws(() => loadRelayConfig({ RELAY_ORIGIN: 'udp://x' }), /kcp:\/\//);
  });

  it('gives kcp:// relay links the server\'s KCP_FEC (both ends of a KCP link must agree), unless the URL names its own', () => {
    const fec = { dataShards: 10, parityShards: 3 };
    const config = loadRelayConfig({
      RELAY_ORIGIN: 'kcp://origin.example:1935', RELAY_PUSH: 'kcp://hk:1935=live/*,kcp://cn:1935?fec=off=live/*,rtmp://tw:1935=live/*',
    }, { fec });
    assert.equal(config.origin?.searchParams.get('fec'), '10:3');
    assert.deepEqual(config.push.map((t) => t.url.searchParams.get('fec')), ['10:3', 'off', null]);
    assert.equal(loadRelayConfig({ RELAY_ORIGIN: 'kcp://origin.example:1935?fec=4:2' }, { fec }).origin?.searchParams.get('fec'), '4:2');
    assert.equal(loadRelayConfig({ RELAY_ORIGIN: 'kcp://origin.example:1935' }).origin?.searchParams.get('fec'), null, 'KCP_FEC off: none added');
  });
});

describe('Backoff', () => {
  it('grows exponentially to a ceiling, with jitter, and resets', () => {
    const b = new Backoff(100, 1000, 0.5, () => 0);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000, 1000]);
    b.reset();
    assert.equal(b.next(), 100);
    const jittered = new Backoff(100, 1000, 0.5, () => 1);
    assert.equal(jittered.next(), 50, 'jitter shortens a delay by up to half');
  });
});
