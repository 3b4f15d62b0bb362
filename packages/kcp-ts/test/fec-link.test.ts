/**
 * FEC as a layer under KCP on a real link: an endpoint and a client with
 * the same KCP_FEC setting exchange a stream through the lossy UDP proxy;
 * every byte arrives in order and shards lost on the way are rebuilt from
 * parity. (KCP's own retransmissions are not compared: in fast mode on this
 * loopback path most of them are early RTO expiries, which FEC cannot
 * prevent; the weak-network benchmark measures the effect on delay.)
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { connectKcp, FecLink, KcpServerEndpoint } from 'kcp-ts/node';
import type { FecSetting } from 'kcp-ts/node';
import type { KcpStream } from 'kcp-ts/node';
import { startLossyUdpProxy } from '@bridgecast/test-support/lossy-udp-proxy.js';

const PACE_BYTES = 25_000;
const PACE_MS = 10;

interface Transfer {
  received: Buffer;
  recovered: number;
}

/** Sends `payload` client → server through 5% loss (seeded) and returns what arrived. */
async function transfer(payload: Buffer, fec: FecSetting): Promise<Transfer> {
  const endpoint = new KcpServerEndpoint({ host: '127.0.0.1', port: 0, fec });
  const { port } = await endpoint.listen();
  const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port }, lossPercent: 5, delayMs: 20, seed: 7 });
  try {
    const sessionOpened = once(endpoint, 'session');
    const client = await connectKcp('127.0.0.1', proxy.port, { fec });
    // Paced like a live stream (~20 Mbit/s): a bulk write would burst a whole
    // send window at once and overflow the loopback socket buffers, a loss
    // that has nothing to do with the impaired path under test.
    void (async () => {
      for (let at = 0; at < payload.length; at += PACE_BYTES) {
        client.write(payload.subarray(at, at + PACE_BYTES));
        await new Promise((r) => setTimeout(r, PACE_MS));
      }
    })();
    const [server] = (await sessionOpened) as [KcpStream];
    server.markVerified();
    const chunks: Buffer[] = [];
    let bytes = 0;
    server.on('data', (chunk: Buffer) => { chunks.push(chunk); bytes += chunk.length; });
    const deadline = Date.now() + 20_000;
    while (bytes < payload.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    client.destroy();
    server.destroy();
    return {
      received: Buffer.concat(chunks),
      recovered: endpoint.fecTotals().recovered,
    };
  } finally {
    await proxy.close();
    await endpoint.close();
  }
}

test('KCP over FEC through 5% loss: every byte in order, lost shards rebuilt from parity', async () => {
  const payload = randomBytes(1_000_000);
  const withFec = await transfer(payload, { dataShards: 10, parityShards: 3 });
  assert.ok(withFec.received.equals(payload), 'KCP over FEC delivers everything in order');
  assert.ok(withFec.recovered > 0, 'some lost shards were rebuilt from parity');
});

test('an FEC endpoint ignores plain KCP datagrams (both ends must agree on KCP_FEC)', async () => {
  const endpoint = new KcpServerEndpoint({ host: '127.0.0.1', port: 0, fec: { dataShards: 10, parityShards: 3 } });
  const { port } = await endpoint.listen();
  try {
    const client = await connectKcp('127.0.0.1', port);
    client.write(Buffer.from('hello'));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(endpoint.sessionCount, 0);
    assert.ok(endpoint.stats.datagramsReceived > 0);
    client.destroy();
  } finally {
    await endpoint.close();
  }
});

test('a link whose parity is held back still sends every data shard, and the receiver delivers them', () => {
  const setting = { dataShards: 4, parityShards: 2 };
  for (const wanted of [true, false]) {
    const sent: Buffer[] = [];
    const sender = new FecLink(setting, (shard) => sent.push(shard), () => wanted);
    const receiver = new FecLink(setting, () => {});
    const delivered: Buffer[] = [];
    for (let i = 0; i < 8; i++) sender.send(Buffer.from(`datagram ${i}`));
    for (const shard of sent) receiver.receive(shard, (d) => delivered.push(d));
    sender.close();
    receiver.close();
    assert.equal(sent.length, wanted ? 8 + 4 : 8, wanted ? 'two groups of 4 data + 2 parity' : 'data shards only');
    assert.deepEqual(delivered.map(String), Array.from({ length: 8 }, (_, i) => `datagram ${i}`));
  }
});
