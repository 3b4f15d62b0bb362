import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { MAX_BODY_BYTES } from '../../lambdas/stream-keys/src/validation.js';
import { createLocalApiHandler, type LocalApiOptions } from '../../services/media/src/auth/api-adapter.js';
import { silentLogger } from '../../services/media/src/logger.js';
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
