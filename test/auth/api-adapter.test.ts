import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { MAX_BODY_BYTES } from '@bridgecast/stream-keys';
import { createLocalApiHandler, type LocalApiOptions } from '@bridgecast/media/auth/api-adapter.js';
import { silentLogger } from '@bridgecast/media/logger.js';
import { startTestTable, TEST_URLS, type TestTable } from '../stream-keys/fixtures.js';

let table: TestTable;
const servers: http.Server[] = [];

before(async () => {
  table = await startTestTable();
});
after(async () => {
  for (const server of servers) server.close();
  await table.close();
});

/**
 * A real HTTP server with the adapter mounted. `pretendRemote` makes the
 * socket report a public address: tests may only talk to 127.0.0.1, so a
 * genuinely remote client cannot be produced here.
 */
async function serve(options: Partial<LocalApiOptions> & { pretendRemote?: boolean } = {}): Promise<string> {
  const api = createLocalApiHandler({ store: table.store, urls: TEST_URLS, logger: silentLogger, ...options });
  const server = http.createServer((req, res) => {
    if (options.pretendRemote) Object.defineProperty(req.socket, 'remoteAddress', { value: '203.0.113.50' });
    void api(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface ApiBody {
  streamId?: string;
  name?: string;
  error?: { code: string; message: string };
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: response.status, body: (await response.json()) as ApiBody };
}

test('loopback clients use the API at /api/streams without a token', async () => {
  const base = await serve();
  const created = await post(`${base}/api/streams`, '{"name":"adapter"}');
  assert.equal(created.status, 201);
  const fetched = await fetch(`${base}/api/streams/${created.body.streamId}`);
  assert.equal(fetched.status, 200);
  assert.equal(((await fetched.json()) as ApiBody).name, 'adapter');
  assert.equal((await fetch(`${base}/api/streams/${created.body.streamId}/nope`)).status, 404);
  assert.equal((await fetch(`${base}/api/streams/..%2F..%2Fetc%2Fpasswd`)).status, 400);
});

test('without API_TOKEN, non-loopback clients are refused', async () => {
  const base = await serve({ pretendRemote: true });
  const before = await table.scan();
  const refused = await post(`${base}/api/streams`, '{"name":"remote"}');
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error?.code, 'forbidden');
  assert.deepEqual(await table.scan(), before);
});

test('with API_TOKEN, every client needs the bearer token', async () => {
  const base = await serve({ apiToken: 'secret-token', pretendRemote: true });
  assert.equal((await post(`${base}/api/streams`, '{"name":"t"}')).status, 401);
  assert.equal((await post(`${base}/api/streams`, '{"name":"t"}', { authorization: 'Bearer wrong-token!' })).status, 401);
  assert.equal((await post(`${base}/api/streams`, '{"name":"t"}', { authorization: 'Bearer secret-token' })).status, 201);
  const loopback = await serve({ apiToken: 'secret-token' });
  assert.equal((await fetch(`${loopback}/api/streams`)).status, 401, 'loopback needs the token too once it is set');
});

test('oversized bodies get 413 without being read to the end', async () => {
  const base = await serve();
  const before = await table.scan();
  const declared = await post(`${base}/api/streams`, JSON.stringify({ name: 'x'.repeat(MAX_BODY_BYTES) }));
  assert.equal(declared.status, 413);
  assert.equal(declared.body.error?.code, 'payload_too_large');

  // Chunked upload without Content-Length: the limit is enforced while reading.
  const { port } = new URL(base);
  const { status, bytesSent } = await new Promise<{ status: number; bytesSent: number }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/streams', headers: { 'content-type': 'application/json' } });
    let bytesSent = 0;
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const pump = () => {
      while (!req.destroyed && bytesSent < 64 * 1024 * 1024 && req.write(chunk)) bytesSent += chunk.length;
      if (!req.destroyed && bytesSent < 64 * 1024 * 1024) req.once('drain', pump);
    };
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, bytesSent });
      req.destroy();
    });
    req.on('error', (err) => (bytesSent > 0 ? resolve({ status: 0, bytesSent }) : reject(err)));
    pump();
  });
  assert.equal(status, 413);
  assert.ok(bytesSent < 64 * 1024 * 1024, `server stopped the upload (client had sent ${bytesSent} bytes)`);
  assert.deepEqual(await table.scan(), before);
});

/** A raw request, so Host and Origin can be what a browser on another site would send. */
function request(base: string, method: string, path: string, headers: Record<string, string>, body?: string) {
  const { port } = new URL(base);
  return new Promise<{ status: number; body: ApiBody }>((resolve, reject) => {
    // setHost: false, so the Host header is exactly the one given (or none).
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as ApiBody }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('DNS rebinding: a Host that is not a loopback name is refused, even from a loopback socket', async () => {
  const base = await serve();
  const { port } = new URL(base);
  for (const host of [`attacker.example:${port}`, `127.0.0.1.attacker.example:${port}`, `evil@127.0.0.1:${port}`, `0.0.0.0:${port}`]) {
    const reply = await request(base, 'GET', '/api/streams', { host });
    assert.equal(reply.status, 403, host);
    assert.equal(reply.body.error?.code, 'invalid_host', host);
  }
  // Without a Host, Node's HTTP server answers 400 itself (HTTP/1.1); the adapter would refuse it too.
  assert.ok([400, 403].includes((await request(base, 'GET', '/api/streams', {})).status), 'no Host at all');
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, '[::1]']) {
    assert.equal((await request(base, 'GET', '/api/streams', { host })).status, 200, host);
  }
});

test('with API_TOKEN, PUBLIC_HOST is also accepted as Host, other names are not', async () => {
  const base = await serve({ apiToken: 'secret-token', publicHost: 'media.example.com', pretendRemote: true });
  const authorization = 'Bearer secret-token';
  assert.equal((await request(base, 'GET', '/api/streams', { host: 'media.example.com:8080', authorization })).status, 200);
  assert.equal((await request(base, 'GET', '/api/streams', { host: 'other.example.com', authorization })).status, 403);
  const withoutToken = await serve({ publicHost: 'media.example.com' });
  assert.equal((await request(withoutToken, 'GET', '/api/streams', { host: 'media.example.com' })).status, 403, 'only with API_TOKEN');
});

test('CSRF: cross-origin browser requests are refused and change nothing; same-origin and token requests pass', async () => {
  const base = await serve();
  const host = new URL(base).host;
  const { streamId } = (await post(`${base}/api/streams`, '{"name":"csrf"}')).body;
  const before = await table.scan();
  const json = { host, 'content-type': 'application/json' };
  for (const origin of ['http://attacker.example', 'null', `http://${host}.attacker.example`, 'http://localhost:1']) {
    const created = await request(base, 'POST', '/api/streams', { ...json, origin }, '{"name":"x"}');
    assert.equal(created.status, 403, origin);
    assert.equal(created.body.error?.code, 'cross_origin');
    assert.equal((await request(base, 'POST', `/api/streams/${streamId}/rotate`, { host, origin })).status, 403, origin);
    assert.equal((await request(base, 'DELETE', `/api/streams/${streamId}`, { host, origin })).status, 403, origin);
  }
  // A text/plain form post carries Origin too; without one (old browsers), it is refused for its type.
  const form = await request(base, 'POST', '/api/streams', { host, 'content-type': 'text/plain' }, '{"name":"x"}');
  assert.equal(form.status, 415);
  assert.deepEqual(await table.scan(), before);

  assert.equal((await request(base, 'GET', '/api/streams', { host, origin: `http://${host}` })).status, 200, 'this server\'s own page');
  const tokened = await serve({ apiToken: 'secret-token' });
  const tokenHost = new URL(tokened).host;
  const withToken = await request(tokened, 'POST', '/api/streams', {
    host: tokenHost, origin: 'http://dashboard.example', authorization: 'Bearer secret-token', 'content-type': 'application/json',
  }, '{"name":"dashboard"}');
  assert.equal(withToken.status, 201, 'a caller with the token may come from another origin');
});

test('rotate and revoke tell the hook which stream changed, only when they succeed', async () => {
  const changed: string[] = [];
  const base = await serve({ onStreamKeyChanged: (streamId) => changed.push(streamId) });
  const { streamId } = (await post(`${base}/api/streams`, '{"name":"hooked"}')).body;
  assert.deepEqual(changed, [], 'creating changes no existing key');
  assert.equal((await fetch(`${base}/api/streams/${streamId}/rotate`, { method: 'POST' })).status, 200);
  assert.equal((await fetch(`${base}/api/streams/${streamId}`, { method: 'DELETE' })).status, 200);
  assert.equal((await fetch(`${base}/api/streams/${streamId}/rotate`, { method: 'POST' })).status, 409);
  assert.deepEqual(changed, [streamId, streamId]);
});
