import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { KcpServerEndpoint, connectKcp } from '../../services/media/src/kcp/endpoint.js';
import type { KcpStream } from '../../services/media/src/kcp/stream.js';
import { DEFAULT_KCP_TUNING } from '../../services/media/src/kcp/tuning.js';
import { startLossyUdpProxy } from '../helpers/lossy-udp-proxy.js';
import { ReferenceKcpPeer } from '../helpers/reference-kcp.js';

/**
 * Our KCP against the reference C implementation (ikcp.c through node-kcp),
 * both directions at once, through a path that loses, delays, reorders and
 * duplicates datagrams. Every byte must arrive intact and in order.
 */
const BAD_PATH = { lossPercent: 10, delayMs: 20, jitterMs: 10, reorderPercent: 10, duplicatePercent: 5 };
const BYTES_EACH_WAY = 400_000;
const tuning = DEFAULT_KCP_TUNING;

function readBytes(stream: Readable, total: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= total) {
        stream.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });
}

test('ours (client) <-> C (server) through a lossy path, both directions at once', async () => {
  const { peer, port } = await ReferenceKcpPeer.listen(tuning);
  const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port }, seed: 11, ...BAD_PATH });
  const stream = await connectKcp('127.0.0.1', proxy.port, { tuning });
  try {
    const ours = randomBytes(BYTES_EACH_WAY);
    const theirs = randomBytes(BYTES_EACH_WAY);
    const arriving = readBytes(stream, BYTES_EACH_WAY);
    stream.write(ours);
    // The C side learns our conv from our first datagram; then it answers.
    while (!peer.connected) await new Promise((resolve) => setTimeout(resolve, 10));
    peer.write(theirs);
    const [atOurs] = await Promise.all([arriving, peer.whenReceived(BYTES_EACH_WAY)]);
    assert.ok(atOurs.equals(theirs), 'C -> ours intact and in order');
    assert.ok(peer.receivedData().equals(ours), 'ours -> C intact and in order');
    assert.ok(proxy.stats.dropped > 20 && proxy.stats.duplicated > 5 && proxy.stats.reordered > 10, JSON.stringify(proxy.stats));
    assert.ok(stream.kcp.stats.timeoutRetransmits + stream.kcp.stats.fastRetransmits > 0, 'we repaired losses');
  } finally {
    stream.destroy();
    await Promise.all([proxy.close(), peer.close()]);
  }
});

test('C (client) <-> ours (server endpoint) through a lossy path, both directions at once', async () => {
  const endpoint = new KcpServerEndpoint({ port: 0, host: '127.0.0.1', tuning });
  const { port } = await endpoint.listen();
  const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port }, seed: 12, ...BAD_PATH });
  const peer = await ReferenceKcpPeer.connect(proxy.port, 0x5eed, tuning);
  try {
    const ours = randomBytes(BYTES_EACH_WAY);
    const theirs = randomBytes(BYTES_EACH_WAY);
    const sessionReady = once(endpoint, 'session');
    peer.write(theirs);
    const [stream, info] = (await sessionReady) as [KcpStream, { conv: number }];
    assert.equal(info.conv, 0x5eed);
    // Stands in for the RTMP handshake: the peer is real, lift the amplification limit.
    stream.markVerified();
    const arriving = readBytes(stream, BYTES_EACH_WAY);
    stream.write(ours);
    const [atOurs] = await Promise.all([arriving, peer.whenReceived(BYTES_EACH_WAY)]);
    assert.ok(atOurs.equals(theirs), 'C -> ours intact and in order');
    assert.ok(peer.receivedData().equals(ours), 'ours -> C intact and in order');
    assert.equal(endpoint.sessionCount, 1);
    assert.ok(proxy.stats.dropped > 20, JSON.stringify(proxy.stats));
  } finally {
    await Promise.all([endpoint.close(), proxy.close(), peer.close()]);
  }
});
