import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KcpCommand, KCP_OVERHEAD, encodeHeader } from 'kcp-ts';
import { readFileSync } from 'node:fs';
import { KcpServerEndpoint, connectKcp, DEFAULT_SOCKET_BUFFER_BYTES, type KcpEndpointLimits, type KcpSocketBuffers } from 'kcp-ts/node';
import type { KcpStream, KcpStreamError } from 'kcp-ts/node';
import { seededRandom } from '@bridgecast/test-support/seeded-random.js';

async function startEndpoint(limits: Partial<KcpEndpointLimits> = {}): Promise<{ endpoint: KcpServerEndpoint; port: number }> {
  const endpoint = new KcpServerEndpoint({ port: 0, host: '127.0.0.1', limits });
  const { port } = await endpoint.listen();
  return { endpoint, port };
}

function segment(conv: number, cmd: number, sn: number, una: number, payload: Buffer = Buffer.alloc(0), frg = 0): Buffer {
  const datagram = Buffer.alloc(KCP_OVERHEAD + payload.length);
  encodeHeader(datagram, 0, { conv, cmd, frg, wnd: 128, ts: 0, sn, una, len: payload.length });
  payload.copy(datagram, KCP_OVERHEAD);
  return datagram;
}

/** A raw UDP socket that records what the endpoint sends back. */
async function rawClient(address = '127.0.0.1'): Promise<{ socket: dgram.Socket; received: Buffer[]; bytesReceived: () => number }> {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (datagram) => received.push(datagram));
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return { socket, received, bytesReceived: () => received.reduce((sum, d) => sum + d.length, 0) };
}

function sendAll(socket: dgram.Socket, port: number, datagrams: Buffer[]): Promise<void> {
  return Promise.all(
    datagrams.map((d) => new Promise<void>((resolve, reject) => socket.send(d, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())))),
  ).then(() => undefined);
}

/** A fresh client still gets a session and its data through: what one bad peer did stayed with that peer. */
async function assertNewSessionsServed(endpoint: KcpServerEndpoint, port: number): Promise<void> {
  const client = await connectKcp('127.0.0.1', port);
  try {
    const [other] = (await Promise.all([once(endpoint, 'session'), client.write('still here')]))[0] as [KcpStream];
    const [data] = (await once(other, 'data')) as [Buffer];
    assert.equal(data.toString(), 'still here', 'the endpoint still serves everyone else');
  } finally {
    client.destroy();
  }
}

test('malformed and unsolicited datagrams are dropped, counted by reason, and never answered', async () => {
  const { endpoint, port } = await startEndpoint();
  const client = await rawClient();
  try {
    const random = seededRandom(3);
    const garbage = Array.from({ length: 50 }, () => Buffer.from(Array.from({ length: 1 + Math.floor(random() * 23) }, () => random() * 256)));
    const valid = segment(77, KcpCommand.Push, 0, 0, Buffer.from('hello'));
    const badLength = Buffer.from(valid);
    badLength.writeUInt32LE(1000, 20);
    const badCommand = Buffer.from(valid);
    badCommand[4] = 90;
    const mixedConv = Buffer.concat([valid, segment(78, KcpCommand.Ack, 0, 0)]);
    const notFirst = segment(79, KcpCommand.Push, 5, 0, Buffer.from('late'));
    const ackForNothing = segment(80, KcpCommand.Ack, 0, 0);
    await sendAll(client.socket, port, [...garbage, valid.subarray(0, 23), badLength, badCommand, mixedConv, notFirst, ackForNothing]);
    await sleep(200);
    assert.deepEqual(endpoint.stats.dropped, {
      'too-short': 51,
      'bad-command': 1,
      'bad-length': 1,
      'mixed-conv': 1,
      'not-acceptable': 2,
      'fec-mismatch': 0,
      'session-limit': 0,
      'per-ip-limit': 0,
      rejected: 0,
      failed: 0,
    });
    assert.equal(endpoint.sessionCount, 0);
    assert.equal(client.received.length, 0, 'nothing is sent to a source that never started a conversation');
  } finally {
    client.socket.close();
    await endpoint.close();
  }
});

test('a client whose FEC setting differs from the endpoint\'s gets no session, and its datagrams are counted as fec-mismatch, not as malformed', async () => {
  // Both ends of a link must agree on FEC; a mismatch otherwise looks like a silent, dead link.
  const fecEndpoint = new KcpServerEndpoint({ port: 0, host: '127.0.0.1', fec: { dataShards: 10, parityShards: 3 } });
  const plainEndpoint = new KcpServerEndpoint({ port: 0, host: '127.0.0.1' });
  const [{ port: fecPort }, { port: plainPort }] = [await fecEndpoint.listen(), await plainEndpoint.listen()];
  const clients = [
    await connectKcp('127.0.0.1', fecPort), // plain KCP at an FEC port
    await connectKcp('127.0.0.1', plainPort, { fec: { dataShards: 10, parityShards: 3 } }), // FEC at a plain port
    await connectKcp('127.0.0.1', fecPort, { fec: { dataShards: 4, parityShards: 2 } }), // other shard counts
  ];
  try {
    for (const client of clients) client.write('hello');
    await sleep(300);
    assert.equal(fecEndpoint.sessionCount + plainEndpoint.sessionCount, 0);
    assert.ok(fecEndpoint.stats.dropped['fec-mismatch'] >= 2, `FEC port: ${JSON.stringify(fecEndpoint.stats.dropped)}`);
    assert.ok(plainEndpoint.stats.dropped['fec-mismatch'] >= 1, `plain port: ${JSON.stringify(plainEndpoint.stats.dropped)}`);
    // Their other datagrams (padding, parity shards) could open nothing under any setting: not acceptable, but not malformed.
    for (const endpoint of [fecEndpoint, plainEndpoint]) {
      const { 'too-short': tooShort, 'bad-command': badCommand, 'bad-length': badLength, 'mixed-conv': mixedConv } = endpoint.stats.dropped;
      assert.deepEqual([tooShort, badCommand, badLength, mixedConv], [0, 0, 0, 0], JSON.stringify(endpoint.stats.dropped));
    }
  } finally {
    for (const client of clients) client.destroy();
    await fecEndpoint.close();
    await plainEndpoint.close();
  }
});

test('a flood of new conversations from many ports is bounded per source and in total, with bounded memory', async () => {
  const { endpoint, port } = await startEndpoint({ maxSessions: 30, maxSessionsPerIp: 20 });
  const sessions: KcpStream[] = [];
  endpoint.on('session', (stream) => {
    sessions.push(stream);
    stream.on('error', () => {});
  });
  // 30 ports on one address reach its per-source limit; 10 on another then fill the total.
  const clients = await Promise.all(Array.from({ length: 40 }, (_, i) => rawClient(i < 30 ? '127.0.0.1' : '127.0.0.2')));
  try {
    const heapBefore = process.memoryUsage().heapUsed;
    let conv = 1;
    for (let round = 0; round < 25; round++) {
      await Promise.all(clients.map((client) => sendAll(client.socket, port, [segment(conv++, KcpCommand.Push, 0, 0, randomBytes(1000))])));
      await sleep(10); // paced, so the kernel's socket buffer does not drop most of the flood before we see it
    }
    await sleep(200);
    const { dropped, datagramsReceived } = endpoint.stats;
    assert.ok(datagramsReceived > 500, `received ${datagramsReceived} of 1000`);
    assert.equal(endpoint.sessionCount, 30, 'total limit');
    assert.equal(endpoint.stats.sessionsAccepted, 30);
    assert.equal(dropped['per-ip-limit'] + dropped['session-limit'] + endpoint.stats.sessionsAccepted, datagramsReceived);
    assert.ok(dropped['per-ip-limit'] > 0 && dropped['session-limit'] > 0, JSON.stringify(dropped));
    const perIp = new Map<string, number>();
    for (const stream of sessions) perIp.set(stream.remoteAddress, (perIp.get(stream.remoteAddress) ?? 0) + 1);
    assert.ok(Math.max(...perIp.values()) <= 20, 'per-source limit');
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(heapGrowth < 40 * 1024 * 1024, `heap grew by ${heapGrowth} bytes`);
  } finally {
    for (const client of clients) client.socket.close();
    await endpoint.close();
  }
});

test('before markVerified the endpoint sends a source at most 3x what it received; afterwards it flows', async () => {
  const { endpoint, port } = await startEndpoint();
  const client = await rawClient();
  try {
    const sessionReady = once(endpoint, 'session');
    // Large enough that 3x its size admits a full-MTU datagram.
    const hello = segment(9, KcpCommand.Push, 0, 0, Buffer.alloc(600));
    await sendAll(client.socket, port, [hello]);
    const [stream] = (await sessionReady) as [KcpStream];
    stream.write(randomBytes(200_000));
    await sleep(300);
    const sentBefore = client.bytesReceived();
    assert.ok(sentBefore > 0, 'the session answers within its budget');
    assert.ok(sentBefore <= 3 * hello.length, `sent ${sentBefore} bytes for ${hello.length} received`);
    // More bytes from the client (here: a retransmission) extend the budget, still 3x.
    await sendAll(client.socket, port, [hello, hello]);
    await sleep(200);
    assert.ok(client.bytesReceived() > sentBefore, 'held datagrams go out as the budget grows');
    assert.ok(client.bytesReceived() <= 3 * 3 * hello.length, `sent ${client.bytesReceived()} for ${3 * hello.length}`);
    assert.ok(endpoint.stats.amplificationHeld > 0);

    stream.markVerified();
    await sleep(300);
    assert.ok(client.bytesReceived() > 20 * 3 * hello.length, `verified: ${client.bytesReceived()} bytes flow freely`);
  } finally {
    client.socket.close();
    await endpoint.close();
  }
});

test('sessions end on idle timeout and on a missed verification deadline', async () => {
  const { endpoint, port } = await startEndpoint({ idleTimeoutMs: 300, handshakeTimeoutMs: 600 });
  try {
    const client = await connectKcp('127.0.0.1', port);
    const [idleStream] = (await Promise.all([once(endpoint, 'session'), client.write('ping')]))[0] as [KcpStream];
    idleStream.markVerified();
    // events.once('close') would reject on the 'error' that precedes it, so listen plainly.
    const closed = new Promise((resolve) => idleStream.once('close', resolve));
    client.destroy(); // goes silent without a word, like a dead network
    const [idleError] = (await once(idleStream, 'error')) as [KcpStreamError];
    assert.equal(idleError.code, 'ERR_KCP_IDLE_TIMEOUT');
    await closed;

    const chatty = await connectKcp('127.0.0.1', port);
    const [unverified] = (await Promise.all([once(endpoint, 'session'), chatty.write('ping')]))[0] as [KcpStream];
    // The client keeps sending, so only the verification deadline can end it.
    const keepAlive = setInterval(() => chatty.write('x'), 50);
    const [verifyError] = (await once(unverified, 'error')) as [KcpStreamError];
    clearInterval(keepAlive);
    assert.equal(verifyError.code, 'ERR_KCP_VERIFY_TIMEOUT');
    chatty.destroy();
    await sleep(50);
    assert.equal(endpoint.sessionCount, 0);
    assert.equal(endpoint.stats.sessionsClosed, 2);
  } finally {
    await endpoint.close();
  }
});

test('writes wait while the peer does not acknowledge; end() delivers everything then closes', async () => {
  const { endpoint, port } = await startEndpoint();
  const silentPeer = await rawClient();
  try {
    const sessionReady = once(endpoint, 'session');
    await sendAll(silentPeer.socket, port, [segment(5, KcpCommand.Push, 0, 0, Buffer.alloc(10))]);
    const [stuck] = (await sessionReady) as [KcpStream];
    stuck.markVerified();
    let written = false;
    stuck.write(randomBytes(4_000_000), () => (written = true));
    await sleep(200);
    assert.equal(written, false, 'the write callback waits for acks that never come');
    assert.ok(stuck.kcp.waitsnd() <= endpoint.limits.maxWaitSnd + 32, `waitsnd ${stuck.kcp.waitsnd()} stays bounded`);
    stuck.destroy();

    const client = await connectKcp('127.0.0.1', port);
    const payload = randomBytes(300_000);
    const [server] = (await Promise.all([once(endpoint, 'session'), client.write(payload)]))[0] as [KcpStream];
    server.markVerified();
    const chunks: Buffer[] = [];
    server.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.end(Buffer.from('bye'));
    await once(client, 'close');
    assert.ok(Buffer.concat(chunks).equals(Buffer.concat([payload, Buffer.from('bye')])), 'everything arrived before the client closed');
    server.destroy();
  } finally {
    silentPeer.socket.close();
    await endpoint.close();
  }
});

test('fragments that never complete a message (frg 2, three times) neither crash the endpoint nor stop other sessions', async () => {
  const { endpoint, port } = await startEndpoint();
  const attacker = await rawClient();
  try {
    const opened = once(endpoint, 'session');
    // Each claims two more fragments follow; the third used to make recv read past the queue.
    await sendAll(attacker.socket, port, [0, 1, 2].map((sn) => segment(31, KcpCommand.Push, sn, 0, Buffer.from('xx'), 2)));
    const [stream] = (await opened) as [KcpStream];
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    await sleep(100);
    // A stream has no message boundaries: the bytes arrive as data.
    assert.equal(Buffer.concat(chunks).toString(), 'xxxxxx');

    await assertNewSessionsServed(endpoint, port);
  } finally {
    attacker.socket.close();
    await endpoint.close();
  }
});

test('a datagram whose processing throws is dropped, counted, and ends only its own session', async () => {
  const { endpoint, port } = await startEndpoint();
  const victim = await rawClient();
  try {
    const opened = once(endpoint, 'session');
    await sendAll(victim.socket, port, [segment(41, KcpCommand.Push, 0, 0, Buffer.from('one'))]);
    const [failing] = (await opened) as [KcpStream];
    failing.markVerified();
    let calls = 0;
    // The first chunk flows on a later tick; the second is delivered inside the endpoint's datagram handler.
    failing.on('data', () => {
      if (++calls === 2) throw new Error('listener bug');
    });
    const errored = once(failing, 'error');
    await sleep(50);
    await sendAll(victim.socket, port, [segment(41, KcpCommand.Push, 1, 0, Buffer.from('two'))]);
    const [error] = (await errored) as [KcpStreamError];
    assert.equal(error.code, 'ERR_KCP_INPUT');
    assert.equal(endpoint.stats.dropped.failed, 1);
    await sleep(20);
    assert.equal(endpoint.sessionCount, 0, 'the failing session ended');

    await assertNewSessionsServed(endpoint, port);
  } finally {
    victim.socket.close();
    await endpoint.close();
  }
});

test('the endpoint asks the kernel for socket buffers that hold a burst: 1000 datagrams sent at once all arrive, where the default buffer loses most', async (t) => {
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  if (rmemMax < 2 * 1024 * 1024) return t.skip(`net.core.rmem_max is ${rmemMax}: the kernel caps the request`);
  const burst = Array.from({ length: 1000 }, () => Buffer.alloc(1350)); // 1.35 MB, dropped as malformed after counting
  const arrived = async (socketBufferBytes: number | undefined): Promise<{ count: number; buffers: KcpSocketBuffers }> => {
    const endpoint = new KcpServerEndpoint({ port: 0, host: '127.0.0.1', socketBufferBytes });
    const { port } = await endpoint.listen();
    const client = await rawClient();
    // All sends complete before the event loop reads the endpoint's socket: the kernel's buffer holds the burst or drops it.
    await sendAll(client.socket, port, burst);
    await sleep(200);
    const count = endpoint.stats.datagramsReceived;
    const buffers = endpoint.socketBuffers();
    client.socket.close();
    await endpoint.close();
    return { count, buffers };
  };
  const asked = await arrived(undefined);
  const kernelDefault = await arrived(0);
  console.log(`burst of 1000: ${asked.count} arrived with ${asked.buffers.receive} B of receive buffer, ${kernelDefault.count} with the kernel's default ${kernelDefault.buffers.receive} B`);
  assert.ok(asked.buffers.receive >= DEFAULT_SOCKET_BUFFER_BYTES, `receive buffer ${asked.buffers.receive} B`);
  assert.equal(asked.count, 1000);
  assert.ok(kernelDefault.count < 1000, 'the loss the larger buffer prevents is reproduced');
});
