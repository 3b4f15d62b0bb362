import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { createLocalApiHandler } from '@bridgecast/media/auth/api-adapter.js';
import { localApiUrl, runKeysCommand } from '@bridgecast/media/cli/keys.js';
import { silentLogger } from '@bridgecast/media/logger.js';
import { startTestTable, TEST_URLS, type TestTable } from './fixtures.js';

let table: TestTable;
let server: http.Server;
let api: string;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

before(async () => {
  table = await startTestTable();
  const handle = createLocalApiHandler({
    store: table.store, urls: TEST_URLS, logger: silentLogger, apiToken: 'cli-token', playbackSigner: { keyPairId: 'KTEST', privateKey },
  });
  server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
});
after(async () => {
  server.close();
  await table.close();
});

async function keys(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runKeysCommand([...argv, '--api', api, '--token', 'cli-token'], {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
  });
  return { code, stdout, stderr };
}

test('create, list, show, rotate and revoke through the local API', async () => {
  const created = await keys('create', 'Busan port');
  assert.equal(created.code, 0, created.stderr);
  const streamId = /Stream (st_\w+) "Busan port"/.exec(created.stdout)?.[1];
  const streamKey = /Stream key: +(sk_[\w-]+)/.exec(created.stdout)?.[1];
  assert.ok(streamId && streamKey, created.stdout);
  assert.match(created.stdout, /OBS server: +rtmp:\/\/ingest\.test:1935\/live\n/);
  assert.equal((await table.store.resolveKey(streamKey))?.streamId, streamId);

  const listed = await keys('list');
  assert.match(listed.stdout, new RegExp(`${streamId} +active .* Busan port`));
  const shown = await keys('show', streamId);
  assert.equal(shown.code, 0);
  assert.ok(!shown.stdout.includes('sk_'), 'show never prints a key');

  const rotated = await keys('rotate', streamId, '--json');
  assert.equal(rotated.code, 0);
  const newKey = JSON.parse(rotated.stdout).streamKey;
  assert.equal(await table.store.resolveKey(streamKey), undefined);
  assert.equal((await table.store.resolveKey(newKey))?.streamId, streamId);

  assert.equal((await keys('revoke', streamId)).code, 0);
  assert.equal(await table.store.resolveKey(newKey), undefined);
  const again = await keys('revoke', streamId);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /error 409 \(stream_revoked\)/);
});

test('create --private makes a private stream; playback issues a viewer credential and never prints the key', async () => {
  const created = await keys('create', 'Members desk', '--private');
  assert.equal(created.code, 0, created.stderr);
  const streamId = /Stream (st_\w+) "Members desk" \(active, private/.exec(created.stdout)?.[1];
  assert.ok(streamId, created.stdout);
  const streamKey = /Stream key: +(sk_[\w-]+)/.exec(created.stdout)![1]!;
  assert.equal((await table.store.getStream(streamId))?.private, true);

  const issued = await keys('playback', streamId, '--expires', '120', '--viewer-ip', '203.0.113.7');
  assert.equal(issued.code, 0, issued.stderr);
  assert.match(issued.stdout, new RegExp(`Set-Cookie: CloudFront-Key-Pair-Id=KTEST; Path=/live/${streamId}/`));
  assert.match(issued.stdout, new RegExp(`Set-Cookie: CloudFront-Policy=[\\w~-]+; Path=/recordings/${streamId}/`));
  assert.match(issued.stdout, /FLV: .*\.flv\?token=/);
  const until = Date.parse(/valid until (\S+)/.exec(issued.stdout)![1]!);
  assert.ok(Math.abs(until - (Date.now() + 120_000)) < 10_000, 'expires in about 120 s');
  assert.ok(!issued.stdout.includes(streamKey) && !(await keys('show', streamId)).stdout.includes(streamKey), 'the key is printed only by create');

  const bad = await keys('playback', streamId, '--viewer-ip', 'not-an-ip');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid_viewer_ip/);
});

test('usage errors exit 2; API errors exit 1 with the API message', async () => {
  assert.equal((await keys('show')).code, 2);
  assert.equal((await keys('frobnicate')).code, 2);
  assert.equal((await keys('list', 'extra')).code, 2);
  const bad = await keys('create', '../etc');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /error 400 \(invalid_name\)/);
  const wrongToken = await runKeysCommand(['list', '--api', api, '--token', 'nope'], { stdout: () => {}, stderr: () => {} });
  assert.equal(wrongToken, 1);
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  let stderr = '';
  const unreachable = await runKeysCommand(['list', '--api', `http://127.0.0.1:${closedPort}/api`], { stdout: () => {}, stderr: (t) => void (stderr += t) });
  assert.equal(unreachable, 1);
  assert.match(stderr, /cannot reach the stream-keys API/);
});

test('--sigv4 signs requests for execute-api with the default credential chain', async () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey });
  delete process.env.AWS_SESSION_TOKEN;
  // A stand-in for API Gateway's IAM check: recompute the signature over what arrived.
  const verdicts: boolean[] = [];
  const verifier = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const authorization = req.headers.authorization ?? '';
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1].split(';') ?? [];
    const headers = Object.fromEntries(signedHeaders.map((name) => [name, String(req.headers[name])]));
    const url = new URL(req.url ?? '/', 'http://x');
    const amzDate = String(req.headers['x-amz-date']);
    const signingDate = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13)}`);
    const expected = await new SignatureV4({ service: 'execute-api', region: 'eu-west-1', credentials, sha256: Sha256 }).sign(
      { method: req.method ?? 'GET', protocol: 'http:', hostname: '127.0.0.1', path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body: Buffer.concat(chunks).toString() },
      { signingDate },
    );
    verdicts.push(authorization.startsWith('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/') && authorization.includes('/eu-west-1/execute-api/aws4_request') && expected.headers.authorization === authorization);
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    const stream = { streamId: 'st_aaaaaaaaaaaaaaaa', name: 'signed', status: 'active', keyVersion: 1, createdAt: 'now', playback: { hls: 'h', flv: 'f' } };
    res.end(JSON.stringify(req.method === 'POST' ? stream : { items: [stream] }));
  });
  await new Promise<void>((resolve) => verifier.listen(0, '127.0.0.1', resolve));
  try {
    const port = (verifier.address() as AddressInfo).port;
    const output = { stdout: () => {}, stderr: (text: string) => assert.fail(text) };
    assert.equal(await runKeysCommand(['create', 'signed', '--api', `http://127.0.0.1:${port}/prod`, '--sigv4', '--region', 'eu-west-1'], output), 0);
    assert.equal(await runKeysCommand(['list', '--api', `http://127.0.0.1:${port}/prod`, '--sigv4', '--region', 'eu-west-1'], output), 0);
    assert.deepEqual(verdicts, [true, true]);
    delete process.env.AWS_REGION;
    const noRegion = await runKeysCommand(['list', '--api', `http://127.0.0.1:${port}`, '--sigv4'], { stdout: () => {}, stderr: () => {} });
    assert.equal(noRegion, 2, 'a signed call needs a region');
  } finally {
    verifier.close();
  }
});

test('without --api, keys addresses the local server where serve listens with the same environment', () => {
  assert.equal(localApiUrl({}), 'http://127.0.0.1:8080/api');
  assert.equal(localApiUrl({ HTTP_PORT: '9090' }), 'http://127.0.0.1:9090/api');
  assert.equal(localApiUrl({ HTTP_PORT: '9090', HOST: '0.0.0.0' }), 'http://127.0.0.1:9090/api', 'a wildcard address is reached on loopback');
  assert.equal(localApiUrl({ HTTP_PORT: '9090', HOST: '::1' }), 'http://[::1]:9090/api');
  assert.equal(localApiUrl({ HTTP_PORT: 'nonsense' }), 'http://127.0.0.1:8080/api', 'serve refuses it anyway; keys does not guess');
});
