/**
 * What the HTTP port shows the public versus operators: /api/live (stream
 * ids, publishers' addresses) answers only loopback (or API_TOKEN)
 * callers, and /metrics answers loopback and private-network addresses only.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import { isPrivateAddress } from '@bridgecast/media/auth/private-address.js';
import { killAllChildren, startPublisher } from '../helpers/ffmpeg.js';
import { startTestServer, waitForKeyframe } from '../helpers/media-server.js';

after(killAllChildren);

/**
 * Runs `fn` while every connection the in-process server accepts reports
 * `address` as its peer: tests may only talk to 127.0.0.1, so an internet
 * or VPC client cannot be produced otherwise.
 */
async function asIfFrom<T>(address: string, fn: () => Promise<T>): Promise<T> {
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (this: http.Server, event: string, ...args: unknown[]) {
    if (event === 'connection') Object.defineProperty(args[0], 'remoteAddress', { value: address });
    return emit.apply(this, [event, ...args] as Parameters<typeof emit>);
  } as typeof emit;
  try {
    return await fn();
  } finally {
    http.Server.prototype.emit = emit;
  }
}

/** A fresh connection per request, so no kept-alive socket carries the previous pretend address. */
const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers: { connection: 'close', ...headers } });

interface LiveList {
  streams: { name: string; publisher: { protocol: string; address?: string } }[];
}

test('/api/live: stream ids and publisher addresses for operators only; anonymous callers get no ids', async (t) => {
  const server = await startTestServer({ apiToken: 'ops-token' });
  t.after(() => server.close());
  startPublisher(server.rtmpUrl('addr-cam'), { seconds: 20 });
  await waitForKeyframe(server.hub, 'addr-cam', 15_000);
  const url = `${server.httpBase}/api/live`;
  /** An anonymous caller: refused, and the body names no stream. */
  const refused = async (res: Response, status: number, label: string) => {
    assert.equal(res.status, status, label);
    assert.doesNotMatch(await res.text(), /addr-cam/, label);
  };

  await refused(await asIfFrom('203.0.113.7', () => get(url)), 401, 'the public');
  await refused(await get(url), 401, 'loopback without the token, once API_TOKEN is set');
  await refused(await get(url, { origin: 'http://attacker.example', authorization: 'Bearer wrong' }), 401, 'a wrong token');
  const operator = (await (await asIfFrom('203.0.113.7', () => get(url, { authorization: 'Bearer ops-token' }))).json()) as LiveList;
  assert.equal(operator.streams[0]?.name, 'addr-cam');
  assert.equal(operator.streams[0]?.publisher.address, '127.0.0.1', 'the real peer address is the publisher\'s (ffmpeg on loopback)');

  const open = await startTestServer();
  t.after(() => open.close());
  startPublisher(open.rtmpUrl('addr-cam'), { seconds: 20 });
  await waitForKeyframe(open.hub, 'addr-cam', 15_000);
  const openUrl = `${open.httpBase}/api/live`;
  const local = (await (await get(openUrl)).json()) as LiveList;
  assert.equal(local.streams[0]?.publisher.address, '127.0.0.1', 'loopback operator without API_TOKEN');
  await refused(await get(openUrl, { origin: 'http://attacker.example' }), 403, 'not to other sites\' pages');
  await refused(await asIfFrom('198.51.100.20', () => get(openUrl)), 403, 'not to the internet');
});

test('/metrics answers loopback and private networks, not the internet', async (t) => {
  const server = await startTestServer();
  t.after(() => server.close());
  const url = `${server.httpBase}/metrics`;
  assert.equal((await get(url)).status, 200, 'loopback (a sidecar in the task)');
  for (const address of ['10.0.3.17', '::ffff:172.31.0.5', '192.168.1.2']) {
    assert.equal(await asIfFrom(address, async () => (await get(url)).status), 200, address);
  }
  for (const address of ['203.0.113.7', '::ffff:8.8.8.8', '2001:db8::1']) {
    const res = await asIfFrom(address, () => get(url));
    assert.equal(res.status, 403, address);
    assert.doesNotMatch(await res.text(), /bridgecast_/);
  }
});

test('private addresses: RFC 1918, loopback and IPv6 unique local, in plain and mapped form', () => {
  for (const address of ['127.0.0.1', '127.8.9.1', '::1', '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.0.1', '::ffff:10.1.2.3', 'fd12:3456::1', 'fc00::1', 'FD00::1']) {
    assert.equal(isPrivateAddress(address), true, address);
  }
  for (const address of [undefined, '', '8.8.8.8', '172.15.0.1', '172.32.0.1', '192.169.0.1', '100.64.0.1', '169.254.169.254', '11.0.0.1', '::ffff:8.8.8.8', '2001:db8::1', 'fe80::1', '::', '0.0.0.0', 'fc']) {
    assert.equal(isPrivateAddress(address), false, String(address));
  }
});
