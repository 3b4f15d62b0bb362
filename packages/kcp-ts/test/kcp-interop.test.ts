import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { KcpServerEndpoint, connectKcp } from 'kcp-ts/node';
import { KCP_OVERHEAD, MAX_FRAGMENTS } from 'kcp-ts';
import type { KcpStream } from 'kcp-ts/node';
import { DEFAULT_KCP_TUNING, type KcpTuning } from 'kcp-ts';
import { startLossyUdpProxy } from '@bridgecast/test-support/lossy-udp-proxy.js';
import { UdpKcpPeer, ourKcpEngine, referenceKcpEngine, type KcpEngineFactory } from './helpers/reference-kcp.js';
import { seededRandom } from '@bridgecast/test-support/seeded-random.js';

/**
 * Our KCP against the reference C implementation (ikcp.c through node-kcp),
 * both directions at once, through a path that loses, delays, reorders and
 * duplicates datagrams. Every byte must arrive intact and in order.
 */
const BAD_PATH = { lossPercent: 10, delayMs: 20, jitterMs: 10, reorderPercent: 10, duplicatePercent: 5 };
const BYTES_EACH_WAY = 400_000;
/** ikcp's "normal mode" (ikcp_nodelay(kcp, 0, 40, 0, 0)): congestion window on, no fast retransmit, RTO doubling. */
const NORMAL_MODE: KcpTuning = { ...DEFAULT_KCP_TUNING, nodelay: 0, interval: 40, resend: 0, nc: false };
/**
 * Without fast retransmit every loss waits for a timeout that drops the
 * congestion window to one segment: ikcp itself moves ~25 KB/s each way over
 * BAD_PATH in this mode (C <-> C measured the same as ours), so send less,
 * but enough datagrams for the path checks (~8 s).
 */
const NORMAL_MODE_BYTES_EACH_WAY = 200_000;

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

/** Our end ran as tuned: no fast retransmit with resend 0, and with nc off a congestion window held below the send window. */
function assertOurTuningInEffect(stream: KcpStream, tuning: KcpTuning): void {
  assert.ok(stream.kcp.stats.timeoutRetransmits + stream.kcp.stats.fastRetransmits > 0, 'we repaired losses');
  if (tuning.resend === 0) assert.equal(stream.kcp.stats.fastRetransmits, 0, 'no fast retransmit with resend 0');
  if (!tuning.nc) assert.ok(stream.kcp.cwnd < tuning.sndWnd, `congestion window ${stream.kcp.cwnd} in effect`);
}

/** Our KcpStream (client) <-> C (server), stream mode. */
async function oursClientCServer(tuning: KcpTuning, bytesEachWay: number, seed: number): Promise<void> {
  const { peer, port } = await UdpKcpPeer.listen(tuning);
  const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port }, seed, ...BAD_PATH });
  const stream = await connectKcp('127.0.0.1', proxy.port, { tuning });
  try {
    const ours = randomBytes(bytesEachWay);
    const theirs = randomBytes(bytesEachWay);
    const arriving = readBytes(stream, bytesEachWay);
    stream.write(ours);
    // The C side learns our conv from our first datagram; then it answers.
    while (!peer.connected) await new Promise((resolve) => setTimeout(resolve, 10));
    peer.write(theirs);
    const [atOurs] = await Promise.all([arriving, peer.whenReceived(bytesEachWay)]);
    assert.ok(atOurs.equals(theirs), 'C -> ours intact and in order');
    assert.ok(peer.receivedData().equals(ours), 'ours -> C intact and in order');
    assert.ok(proxy.stats.dropped > 20 && proxy.stats.duplicated > 5 && proxy.stats.reordered > 10, JSON.stringify(proxy.stats));
    assertOurTuningInEffect(stream, tuning);
  } finally {
    stream.destroy();
    await Promise.all([proxy.close(), peer.close()]);
  }
}

/** C (client) <-> our KcpServerEndpoint, stream mode. */
async function cClientOursServer(tuning: KcpTuning, bytesEachWay: number, seed: number): Promise<void> {
  const endpoint = new KcpServerEndpoint({ port: 0, host: '127.0.0.1', tuning });
  const { port } = await endpoint.listen();
  const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port }, seed, ...BAD_PATH });
  const peer = await UdpKcpPeer.connect(proxy.port, 0x5eed, tuning);
  try {
    const ours = randomBytes(bytesEachWay);
    const theirs = randomBytes(bytesEachWay);
    const sessionReady = once(endpoint, 'session');
    peer.write(theirs);
    const [stream, info] = (await sessionReady) as [KcpStream, { conv: number }];
    assert.equal(info.conv, 0x5eed);
    // Stands in for the RTMP handshake: the peer is real, lift the amplification limit.
    stream.markVerified();
    const arriving = readBytes(stream, bytesEachWay);
    stream.write(ours);
    const [atOurs] = await Promise.all([arriving, peer.whenReceived(bytesEachWay)]);
    assert.ok(atOurs.equals(theirs), 'C -> ours intact and in order');
    assert.ok(peer.receivedData().equals(ours), 'ours -> C intact and in order');
    assert.equal(endpoint.sessionCount, 1);
    assert.ok(proxy.stats.dropped > 20, JSON.stringify(proxy.stats));
    assertOurTuningInEffect(stream, tuning);
  } finally {
    await Promise.all([endpoint.close(), proxy.close(), peer.close()]);
  }
}

test('ours (client) <-> C (server) through a lossy path, both directions at once', () =>
  oursClientCServer(DEFAULT_KCP_TUNING, BYTES_EACH_WAY, 11));

test('C (client) <-> ours (server endpoint) through a lossy path, both directions at once', () =>
  cClientOursServer(DEFAULT_KCP_TUNING, BYTES_EACH_WAY, 12));

test('normal mode (nodelay 0, interval 40, resend 0, nc 0): ours (client) <-> C (server) through a lossy path', () =>
  oursClientCServer(NORMAL_MODE, NORMAL_MODE_BYTES_EACH_WAY, 13));

test('normal mode (nodelay 0, interval 40, resend 0, nc 0): C (client) <-> ours (server endpoint) through a lossy path', () =>
  cClientOursServer(NORMAL_MODE, NORMAL_MODE_BYTES_EACH_WAY, 14));

/**
 * Message sizes around the segment boundaries, up to the largest message
 * both implementations accept (127 fragments: ikcp refuses 128, below its
 * minimum receive window), then random ones, shuffled so large and small
 * messages interleave on the wire.
 */
function messageSizes(mss: number, seed: number): number[] {
  const random = seededRandom(seed);
  const edges = [1, 2, mss - 1, mss, mss + 1, 2 * mss, 2 * mss + 1, 3 * mss + 17, 7 * mss, 16 * mss - 1, 40 * mss + 5, MAX_FRAGMENTS * mss];
  const randomSizes = Array.from({ length: 40 }, () => 1 + Math.floor(random() * 12 * mss));
  const sizes = [...edges, ...randomSizes];
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [sizes[i], sizes[j]] = [sizes[j], sizes[i]];
  }
  return sizes;
}

function assertSameMessages(received: readonly Buffer[], sent: readonly Buffer[], direction: string): void {
  assert.deepEqual(
    received.map((message) => message.length),
    sent.map((message) => message.length),
    `${direction}: every message whole, with its boundaries, in order`,
  );
  for (let i = 0; i < sent.length; i++) assert.ok(received[i].equals(sent[i]), `${direction}: message ${i} intact`);
}

/**
 * Message mode (stream off) both ends: each sends a set of messages from 1
 * byte to 127 segments, fragmented with frg counting down; the other end
 * must reassemble each one whole. KcpStream is stream mode only, so our Kcp
 * runs in the same UDP harness as the C one.
 */
async function messageModeBothWays(client: KcpEngineFactory, server: KcpEngineFactory, seed: number): Promise<void> {
  const tuning = DEFAULT_KCP_TUNING;
  const mss = tuning.mtu - KCP_OVERHEAD;
  const { peer: serverPeer, port } = await UdpKcpPeer.listen(tuning, { engine: server, stream: false });
  const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port }, seed, ...BAD_PATH });
  const clientPeer = await UdpKcpPeer.connect(proxy.port, 0x3e55a9e, tuning, { engine: client, stream: false });
  try {
    const fromClient = messageSizes(mss, seed).map((size) => randomBytes(size));
    const fromServer = messageSizes(mss, seed + 1).map((size) => randomBytes(size));
    const total = (messages: Buffer[]): number => messages.reduce((sum, message) => sum + message.length, 0);
    for (const message of fromClient) clientPeer.write(message);
    // The server end learns the conv from the client's first datagram; its messages wait until then.
    for (const message of fromServer) serverPeer.write(message);
    await Promise.all([serverPeer.whenReceived(total(fromClient)), clientPeer.whenReceived(total(fromServer))]);
    assertSameMessages(serverPeer.receivedMessages(), fromClient, 'client -> server');
    assertSameMessages(clientPeer.receivedMessages(), fromServer, 'server -> client');
    // The largest message went as frg 126 down to 0 each way.
    assert.equal(serverPeer.highestFrgReceived, MAX_FRAGMENTS - 1);
    assert.equal(clientPeer.highestFrgReceived, MAX_FRAGMENTS - 1);
    assert.ok(proxy.stats.dropped > 20 && proxy.stats.duplicated > 5 && proxy.stats.reordered > 10, JSON.stringify(proxy.stats));
  } finally {
    await Promise.all([proxy.close(), clientPeer.close(), serverPeer.close()]);
  }
}

test('message mode: ours (client) <-> C (server) fragment and reassemble messages of 1 byte to 127 segments, both directions', () =>
  messageModeBothWays(ourKcpEngine, referenceKcpEngine, 21));

test('message mode: C (client) <-> ours (server) fragment and reassemble messages of 1 byte to 127 segments, both directions', () =>
  messageModeBothWays(referenceKcpEngine, ourKcpEngine, 22));
