import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import pino from 'pino';
import { createStreamKeysHandler, type StreamKeysHandler } from '@bridgecast/stream-keys';
import { hashStreamKey } from '@bridgecast/stream-keys';
import { StreamKeyStore } from '@bridgecast/stream-keys';
import { MAX_BODY_BYTES } from '@bridgecast/stream-keys';
import { apiEvent, startTestTable, TEST_URLS, type EventOptions, type TestTable } from './fixtures.js';

let table: TestTable;
let handler: StreamKeysHandler;

before(async () => {
  table = await startTestTable();
  handler = createStreamKeysHandler({ store: table.store, urls: TEST_URLS, logger: pino({ level: 'silent' }) });
});
after(() => table.close());

async function call(method: string, path: string, options?: EventOptions) {
  const result = await handler(apiEvent(method, path, options));
  return { status: result.statusCode, headers: result.headers ?? {}, body: JSON.parse(String(result.body)) };
}

const create = (name: string) => call('POST', '/streams', { body: JSON.stringify({ name }) });

test('POST /streams issues a key once and GET never shows it again', async () => {
  const created = await create('Seoul City Hall');
  assert.equal(created.status, 201);
  const { streamId, streamKey } = created.body;
  assert.match(streamId, /^st_[a-z2-7]{16}$/);
  assert.match(streamKey, /^sk_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(created.body.ingest, {
    rtmp: `rtmp://ingest.test:1935/live/${streamKey}`,
    kcp: `kcp://ingest.test:1935/live/${streamKey}`,
  });
  assert.deepEqual(created.body.playback, {
    hls: `https://cdn.test/hls/live/${streamId}/index.m3u8`,
    flv: `https://flv.test/live/${streamId}.flv`,
  });
  assert.equal(created.headers['cache-control'], 'no-store');

  const fetched = await call('GET', `/streams/${streamId}`);
  assert.equal(fetched.status, 200);
  assert.equal(fetched.body.name, 'Seoul City Hall');
  assert.equal(fetched.body.status, 'active');
  const listed = await call('GET', '/streams');
  assert.ok(listed.body.items.some((s: { streamId: string }) => s.streamId === streamId));
  for (const text of [JSON.stringify(fetched.body), JSON.stringify(listed.body)]) {
    assert.ok(!text.includes(streamKey), 'key shown again');
    assert.ok(!text.includes(hashStreamKey(streamKey)), 'key hash shown');
  }

  const items = await table.scan();
  const stored = items.find((i) => i.streamId === streamId);
  assert.equal(stored?.keyHash, hashStreamKey(streamKey));
  assert.ok(!JSON.stringify(items).includes(streamKey), 'the key itself must never be stored');
  assert.equal((await table.store.resolveKey(streamKey))?.streamId, streamId);
});

test('rotation: the new key resolves, the old one stops at once', async () => {
  const { streamId, streamKey: oldKey } = (await create('rotating')).body;
  const rotated = await call('POST', `/streams/${streamId}/rotate`);
  assert.equal(rotated.status, 200);
  assert.notEqual(rotated.body.streamKey, oldKey);
  assert.equal(rotated.body.keyVersion, 2);
  assert.equal(await table.store.resolveKey(oldKey), undefined);
  assert.equal((await table.store.resolveKey(rotated.body.streamKey))?.streamId, streamId);
});

test('two concurrent rotations: exactly one wins, the other gets 409', async () => {
  const { streamId } = (await create('contended')).body;
  // Two store instances, like two Lambda invocations racing on the same item.
  const other = createStreamKeysHandler({
    store: new StreamKeyStore(table.dynamo.client, table.dynamo.tableName),
    urls: TEST_URLS,
    logger: pino({ level: 'silent' }),
  });
  const results = await Promise.all([handler, other, handler, other].map((h) => h(apiEvent('POST', `/streams/${streamId}/rotate`))));
  const statuses = results.map((r) => r.statusCode).sort();
  assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses ${statuses}`);
  assert.ok(statuses.filter((s) => s !== 200).every((s) => s === 409));
  const winner = JSON.parse(String(results.find((r) => r.statusCode === 200)?.body));
  assert.equal((await table.store.resolveKey(winner.streamKey))?.streamId, streamId, 'the winning key works');
  for (const loser of results.filter((r) => r.statusCode === 409)) {
    assert.equal(JSON.parse(String(loser.body)).error.code, 'concurrent_update');
  }
  assert.equal((await call('GET', `/streams/${streamId}`)).body.keyVersion, 2);
});

test('DELETE revokes: the key stops resolving, the record stays for audit, further changes are refused', async () => {
  const { streamId, streamKey } = (await create('revoked')).body;
  const revoked = await call('DELETE', `/streams/${streamId}`);
  assert.equal(revoked.status, 200);
  assert.equal(revoked.body.status, 'revoked');
  assert.equal(await table.store.resolveKey(streamKey), undefined);
  assert.equal(await table.store.isStreamActive(streamId), false);
  const fetched = await call('GET', `/streams/${streamId}`);
  assert.equal(fetched.body.status, 'revoked');
  assert.ok(fetched.body.revokedAt);
  assert.equal((await call('POST', `/streams/${streamId}/rotate`)).status, 409);
  assert.equal((await call('DELETE', `/streams/${streamId}`)).body.error.code, 'stream_revoked');
});

test('rotate takes no body or {} as application/json; form and text posts are 415 and rotate nothing', async () => {
  const { streamId } = (await create('csrf target')).body;
  const rotate = (options: EventOptions) => call('POST', `/streams/${streamId}/rotate`, options);
  for (const [contentType, body] of [
    ['application/x-www-form-urlencoded', 'a=b'],
    ['multipart/form-data; boundary=x', '--x--'],
    ['text/plain', '{}'],
    ['', '{}'],
  ]) {
    const reply = await rotate({ body, headers: { 'content-type': contentType } });
    assert.equal(reply.status, 415, contentType);
    assert.equal(reply.body.error.code, 'unsupported_media_type');
  }
  assert.equal((await rotate({ headers: { 'content-type': 'text/plain' } })).status, 415, 'a type without a body');
  assert.equal((await rotate({ body: '{"name": "x"}' })).body.error.code, 'invalid_body');
  assert.equal((await call('GET', `/streams/${streamId}`)).body.keyVersion, 1, 'nothing was rotated');
  assert.equal((await rotate({ body: '{}' })).body.keyVersion, 2);
  assert.equal((await rotate({})).body.keyVersion, 3, 'the CLI sends no body');
});

test('unknown stream ids are 404', async () => {
  for (const [method, path] of [
    ['GET', '/streams/st_aaaaaaaaaaaaaaaa'],
    ['POST', '/streams/st_aaaaaaaaaaaaaaaa/rotate'],
    ['DELETE', '/streams/st_aaaaaaaaaaaaaaaa'],
    ['GET', '/streams/st_aaaaaaaaaaaaaaaa/recordings'],
  ]) {
    const reply = await call(method, path);
    assert.equal(reply.status, 404, `${method} ${path}`);
    assert.equal(reply.body.error.code, 'stream_not_found');
  }
});

test('recordings are listed newest first with their VOD URLs, paged by cursor', async () => {
  const { streamId } = (await create('recorded')).body;
  const broadcasts = ['20300101T100000Z-aaaa', '20300102T100000Z-bbbb', '20300103T100000Z-cccc'];
  for (const broadcastId of broadcasts) {
    await table.dynamo.client.send(
      new PutCommand({
        TableName: table.dynamo.tableName,
        Item: {
          pk: `STREAM#${streamId}`,
          sk: `REC#${broadcastId}`,
          broadcastId,
          startedAt: '2030-01-01T10:00:00Z',
          endedAt: '2030-01-01T11:00:00Z',
          segments: 1800,
          durationSeconds: 3600.5,
          status: 'complete',
          vodKey: `recordings/${streamId}/${broadcastId}/vod.m3u8`,
        },
      }),
    );
  }
  const first = await call('GET', `/streams/${streamId}/recordings`, { query: { limit: '2' } });
  assert.equal(first.status, 200);
  assert.deepEqual(
    first.body.items.map((r: { broadcastId: string }) => r.broadcastId),
    [broadcasts[2], broadcasts[1]],
  );
  assert.deepEqual(first.body.items[0], {
    broadcastId: broadcasts[2],
    startedAt: '2030-01-01T10:00:00Z',
    endedAt: '2030-01-01T11:00:00Z',
    segments: 1800,
    durationSeconds: 3600.5,
    status: 'complete',
    playback: { hls: `https://cdn.test/hls/recordings/${streamId}/${broadcasts[2]}/vod.m3u8` },
  });
  const second = await call('GET', `/streams/${streamId}/recordings`, { query: { limit: '2', cursor: first.body.nextCursor } });
  assert.deepEqual(
    second.body.items.map((r: { broadcastId: string }) => r.broadcastId),
    [broadcasts[0]],
  );
  const streams = await call('GET', '/streams', { query: { limit: '100' } });
  assert.ok(streams.body.items.every((s: { streamId: string }) => s.streamId.startsWith('st_')), 'recordings are not streams');
});

test('GET /streams pages through every stream exactly once', async () => {
  for (let i = 0; i < 5; i++) await create(`paged ${i}`);
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await call('GET', '/streams', { query: { limit: '2', ...(cursor ? { cursor } : {}) } });
    assert.equal(page.status, 200);
    assert.ok(page.body.items.length <= 2);
    seen.push(...page.body.items.map((s: { streamId: string }) => s.streamId));
    cursor = page.body.nextCursor;
  } while (cursor);
  const metaItems = (await table.scan()).filter((i) => i.sk === 'META');
  assert.equal(seen.length, metaItems.length);
  assert.equal(new Set(seen).size, seen.length);
});

test('a stage prefix and a base path are both accepted; other prefixes are 404', async () => {
  const basePathHandler = createStreamKeysHandler({ store: table.store, urls: TEST_URLS, logger: pino({ level: 'silent' }), basePath: '/api' });
  assert.equal((await handler(apiEvent('GET', '/prod/streams', { stage: 'prod' }))).statusCode, 200);
  assert.equal((await basePathHandler(apiEvent('GET', '/api/streams'))).statusCode, 200);
  assert.equal((await basePathHandler(apiEvent('GET', '/streams'))).statusCode, 200);
  assert.equal((await handler(apiEvent('GET', '/other/streams'))).statusCode, 404);
});

test('bad input gets a clear 4xx JSON error and stores nothing', async () => {
  const before = await table.scan();
  const huge = JSON.stringify({ name: 'x'.repeat(MAX_BODY_BYTES) });
  const cases: [string, string, EventOptions, number, string][] = [
    ['POST', '/streams', { body: huge }, 413, 'payload_too_large'],
    ['POST', '/streams', { body: Buffer.from(huge).toString('base64'), isBase64Encoded: true }, 413, 'payload_too_large'],
    ['POST', '/streams', { body: '{"name": "a"' }, 400, 'invalid_json'],
    ['POST', '/streams', { body: 'name=a' }, 400, 'invalid_json'],
    ['POST', '/streams', { headers: { 'content-type': 'application/json' } }, 400, 'missing_body'],
    ['POST', '/streams', { body: '[]' }, 400, 'invalid_body'],
    ['POST', '/streams', { body: 'null' }, 400, 'invalid_body'],
    ['POST', '/streams', { body: '"demo"' }, 400, 'invalid_body'],
    ['POST', '/streams', { body: '{"name": 42}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": ["a"]}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": null}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": "ok", "keyHash": "x"}' }, 400, 'invalid_body'],
    ['POST', '/streams', { body: '{"name": ""}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: JSON.stringify({ name: 'a'.repeat(65) }) }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": "../../etc/passwd"}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": "a/b"}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": "a\\\\b"}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": "a..b"}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": "line\\nbreak"}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": "nul\\u0000"}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": "zero\\u200bwidth"}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: '{"name": "<script>"}' }, 400, 'invalid_name'],
    ['POST', '/streams', { body: Buffer.from([0x7b, 0xff, 0x7d]).toString('base64'), isBase64Encoded: true }, 400, 'invalid_encoding'],
    ['POST', '/streams', { body: '{"name": "a"}', headers: { 'content-type': 'text/plain' } }, 415, 'unsupported_media_type'],
    // A body without a type is what a cross-site fetch of a Blob sends (no preflight): refused like text/plain.
    ['POST', '/streams', { body: '{"name": "a"}', headers: { 'content-type': '' } }, 415, 'unsupported_media_type'],
    ['POST', '/streams', {}, 415, 'unsupported_media_type'],
    ['GET', '/streams/..%2F..%2Fetc', {}, 400, 'invalid_stream_id'],
    ['GET', '/streams/%2e%2e', {}, 400, 'invalid_stream_id'],
    ['GET', '/streams/st_abc%00defghijklmn', {}, 400, 'invalid_stream_id'],
    ['GET', '/streams/st_abc def ghijklmn', {}, 400, 'invalid_stream_id'],
    ['GET', '/streams/sk_notanid', {}, 400, 'invalid_stream_id'],
    ['GET', '/streams/%E0%A4%A', {}, 400, 'invalid_path'],
    ['POST', '/streams/..%2F/rotate', {}, 400, 'invalid_stream_id'],
    ['GET', '/streams', { query: { limit: '0' } }, 400, 'invalid_limit'],
    ['GET', '/streams', { query: { limit: '1e2' } }, 400, 'invalid_limit'],
    ['GET', '/streams', { query: { cursor: 'not a cursor' } }, 400, 'invalid_cursor'],
    ['GET', '/streams', { query: { cursor: Buffer.from('{"pk":"x","sk":"y","z":1}').toString('base64url') } }, 400, 'invalid_cursor'],
    ['GET', '/nope', {}, 404, 'not_found'],
    ['GET', '/streams/st_aaaaaaaaaaaa/keys', {}, 404, 'not_found'],
    ['GET', '/streams/st_aaaaaaaaaaaa/rotate/again', {}, 404, 'not_found'],
    ['PUT', '/streams', { body: '{"name": "a"}' }, 405, 'method_not_allowed'],
    ['GET', '/streams/st_aaaaaaaaaaaa/rotate', {}, 405, 'method_not_allowed'],
    ['PATCH', '/streams/st_aaaaaaaaaaaa', {}, 405, 'method_not_allowed'],
  ];
  for (const [method, path, options, status, code] of cases) {
    const reply = await call(method, path, options);
    const label = `${method} ${path} ${options.body ?? ''}`.slice(0, 100);
    assert.equal(reply.status, status, label);
    assert.equal(reply.body.error.code, code, label);
    assert.equal(typeof reply.body.error.message, 'string');
    if (status === 405) assert.ok(reply.headers.Allow, 'Allow header');
  }
  assert.deepEqual(await table.scan(), before, 'bad requests must not write anything');
});

test('storage failures are a generic 500: details are logged, never returned', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(line) });
  const broken = createStreamKeysHandler({
    // A table that does not exist: the real DynamoDB error path, no mock.
    store: new StreamKeyStore(table.dynamo.client, 'no-such-table'),
    urls: TEST_URLS,
    logger,
  });
  const result = await broken(apiEvent('POST', '/streams', { body: '{"name": "x"}' }));
  assert.equal(result.statusCode, 500);
  const body = JSON.parse(String(result.body));
  assert.deepEqual(body, { error: { code: 'internal_error', message: 'internal error', requestId: 'req-1' } });
  assert.equal(lines.length, 1);
  assert.match(lines[0], /ResourceNotFoundException|non-existent table/);
});
