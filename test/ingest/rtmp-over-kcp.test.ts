/**
 * RTMP over KCP at the server: what only a UDP transport needs beyond what
 * RTMP over TCP gets (a forged source address, a publisher whose address
 * changes). Real KCP sessions against the real media service.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { encodeAmf0 } from '@bridgecast/media/amf/amf0.js';
import { playOverKcp } from '@bridgecast/media/client/index.js';
import { connectKcp } from 'kcp-ts/node';
import { loadKcpSettings } from '@bridgecast/media/kcp-config.js';
import { listenRtmpOverKcp } from '@bridgecast/media/ingest/rtmp-over-kcp.js';
import { loadLimits } from '@bridgecast/media/limits.js';
import type { RtmpSessionManager } from '@bridgecast/media/rtmp/rtmp-server.js';
import { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import { clientHandshakeStart } from '@bridgecast/media/rtmp/handshake.js';
import { rawCommand, rawMessage } from '../helpers/raw-rtmp.js';
import { memoryLogger, sleep, startTestServer, waitForKeyframe, type TestServer } from '../helpers/media-server.js';
import { SyntheticPublisher, syntheticStream } from '../helpers/synthetic-media.js';
import { startLossyUdpProxy } from '@bridgecast/test-support/lossy-udp-proxy.js';

const TAKEOVER_MS = 1000;
const log = memoryLogger();
let server: TestServer;
const cleanups: (() => void)[] = [];
after(async () => {
  for (const c of cleanups) c();
  await server?.close();
});

async function kcpServer(): Promise<TestServer> {
  server ??= await startTestServer({
    kcpEnabled: true, logger: log.logger, limits: { ...loadLimits({}), publisherTakeoverMs: TAKEOVER_MS },
    // The defaults: the congestion controller and the live deadline, whose session metrics are checked below.
    kcp: loadKcpSettings({}),
  });
  return server;
}

test('a sender that never saw S1 (a forged source address) is closed at C2 and never gets more than 3x its bytes', async () => {
  const server = await kcpServer();
  const publisher = await SyntheticPublisher.start(server.rtmpPort, 'spoofed', { fps: 30, gop: 30, frameBytes: 4000 });
  cleanups.push(() => publisher.stop());
  await waitForKeyframe(server.hub, 'spoofed');
  const kcp = server.kcp!;
  const before = { sent: kcp.stats.bytesSent, received: kcp.stats.bytesReceived, closed: kcp.stats.sessionsClosed };

  // Everything a blind attacker can send: C0C1, a guessed C2, then connect, createStream and play of a live
  // stream in one go. Without the C2 check the play would start and send media to the forged address.
  const spoofer = await connectKcp('127.0.0.1', server.kcpPort!);
  spoofer.on('error', () => {});
  let answered = 0;
  spoofer.on('data', (chunk: Buffer) => (answered += chunk.length));
  spoofer.write(Buffer.concat([
    clientHandshakeStart(),
    randomBytes(1536),
    rawCommand('connect', 1, { app: 'live', tcUrl: 'rtmp://victim/live' }),
    rawCommand('createStream', 2, null),
    rawMessage(20, encodeAmf0('play', 3, null, 'spoofed'), { csid: 8, streamId: 1 }),
  ]));
  await sleep(1500); // 45 frames of the live stream: what a started play would have sent by now
  const sent = kcp.stats.bytesSent - before.sent;
  const received = kcp.stats.bytesReceived - before.received;
  assert.ok(sent <= 3 * received, `sent ${sent} bytes to a source that sent ${received}`);
  assert.ok(answered <= 1 + 2 * 1536, `only the handshake reply reached the source (${answered} bytes)`);
  // The session ends before its acks go out, so the sender's retransmission of segment 0 opens a new one,
  // which ends the same way: each costs the server its handshake reply, inside the same 3x budget.
  assert.ok(kcp.stats.sessionsClosed > before.closed, 'the session ended');
  await log.waitForLine((l) => String(l.reason ?? '').includes('C2 does not answer S1'));
  spoofer.destroy();

  // A peer that really receives (its C2 echoes S1) plays as usual, far past the 3x limit.
  const player = await playOverKcp(`kcp://127.0.0.1:${server.kcpPort}/live`, 'spoofed');
  let bytes = 0;
  for await (const packet of player) {
    bytes += packet.payload.length;
    if (bytes > 100_000) break;
  }
  assert.ok(bytes > 100_000);
  player.client.connection.transport.destroy();
});

/** A KCP publisher of `name` that sends a synthetic stream every 33 ms until stopped. */
async function kcpPublisher(name: string): Promise<{ client: RtmpClient; goSilent(): void }> {
  const transport = await connectKcp('127.0.0.1', server.kcpPort!);
  transport.on('error', () => {});
  const client = await RtmpClient.connect(transport, { app: 'live', tcUrl: `kcp://127.0.0.1:${server.kcpPort}/live`, timeoutMs: 5000 });
  try {
    await client.publish(name);
  } catch (err) {
    transport.destroy(); // a KCP client hears no close from the server: without this its socket stays open
    throw err;
  }
  const packets = syntheticStream({ fps: 30, gop: 30, frameBytes: 2000 });
  const timer = setInterval(() => {
    client.sendPacket(packets.next().value!);
    client.sendPacket(packets.next().value!);
  }, 33);
  cleanups.push(() => clearInterval(timer));
  return {
    client,
    // The network under it goes away without a word (a new Wi-Fi, a new NAT mapping): no close reaches the server.
    goSilent: () => {
      clearInterval(timer);
      transport.destroy();
    },
  };
}

test('a KCP publisher reconnecting from a new address takes over once its old session is silent; a sending one is never replaced', async () => {
  const server = await kcpServer();
  const first = await kcpPublisher('moving');
  await waitForKeyframe(server.hub, 'moving');
  const firstStream = server.hub.get('live', 'moving')!;

  await sleep(TAKEOVER_MS + 200);
  await assert.rejects(kcpPublisher('moving'), /BadName/, 'the first publisher is still sending');
  assert.equal(server.hub.get('live', 'moving'), firstStream);

  first.goSilent();
  const silencedAt = Date.now();
  let second: Awaited<ReturnType<typeof kcpPublisher>> | null = null;
  while (!second) {
    try {
      second = await kcpPublisher('moving');
    } catch (err) {
      assert.match(String(err), /BadName/);
      await sleep(200);
    }
  }
  const waited = Date.now() - silencedAt;
  // Silence counts from the last packet the server got, up to one 33 ms send interval before goSilent().
  assert.ok(waited >= TAKEOVER_MS - 100, `took over after ${waited} ms: too early, the publisher had not been silent for ${TAKEOVER_MS} ms`);
  assert.ok(waited < TAKEOVER_MS + 3000, `took over after ${waited} ms, not after the 30 s KCP idle timeout`);
  const secondStream = await waitForKeyframe(server.hub, 'moving');
  assert.notEqual(secondStream, firstStream);
  assert.equal(firstStream.isEnded, true);
  const line = await log.waitForLine((l) => l.msg === 'publish took over from a silent publisher');
  assert.deepEqual(line.replaced, { protocol: 'kcp', remoteAddress: '127.0.0.1' });
  second.goSilent();
});

test('/metrics shows each KCP session\'s path estimates and queue: bandwidth, min and smoothed RTT, pacing, in flight, queue age, late drops', async () => {
  const server = await kcpServer();
  await kcpPublisher('metered');
  const player = await playOverKcp(`kcp://127.0.0.1:${server.kcpPort}/live`, 'metered');
  let bytes = 0;
  for await (const packet of player) {
    bytes += packet.payload.length;
    if (bytes > 200_000) break;
  }
  const text = await (await fetch(`${server.httpBase}/metrics`)).text();
  const value = (name: string) => {
    const values = [...text.matchAll(new RegExp(`^${name}\\{session="127\\.0\\.0\\.1:\\d+"\\} (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
    assert.ok(values.length >= 2, `${name}: one per session (publisher and player at least)`);
    return Math.max(...values);
  };
  assert.ok(value('bridgecast_kcp_session_pacing_kbit') > 0, 'the live controller paces');
  assert.ok(value('bridgecast_kcp_session_bandwidth_kbit') > 0, 'the player session has delivery-rate samples');
  assert.ok(value('bridgecast_kcp_session_srtt_ms') > 0);
  assert.ok(value('bridgecast_kcp_session_min_rtt_ms') > 0);
  for (const name of ['inflight_bytes', 'queue_bytes', 'queue_age_ms', 'late_dropped_frames', 'path_changes']) assert.ok(value(`bridgecast_kcp_session_${name}`) >= 0);
  assert.match(text, /^bridgecast_viewer_frames_late_dropped_total\{protocol="kcp"\} 0$/m, 'loopback: nothing was late');
  assert.match(text, /^bridgecast_kcp_segments_repaired_total \d+$/m);
  player.client.connection.transport.destroy();
});

test('RTMP over KCP connects through 20% loss each way: the client pads for the server\'s anti-amplification budget, so a lost handshake reply is resent', async () => {
  // Before verification the server sends at most 3x what it received. When its 3 KB handshake reply is lost
  // and its retransmissions lost again, a client that only waits sends nothing more to pay for them: without
  // the client's padding, 4 of these 12 handshakes stalled until their 15 s timeout.
  const server = await kcpServer();
  const results = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
    const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port: server.kcpPort! }, lossPercent: 20, delayMs: 50, seed: i + 1 });
    const started = Date.now();
    try {
      const transport = await connectKcp('127.0.0.1', proxy.port);
      const client = await RtmpClient.connect(transport, { app: 'live', tcUrl: `kcp://127.0.0.1:${proxy.port}/live`, timeoutMs: 15_000 });
      client.close('done');
      return Date.now() - started;
    } catch {
      return Infinity;
    } finally {
      await proxy.close();
    }
  }));
  console.log(`RTMP connect over KCP at 20% loss each way, 50 ms one way: ${results.map((ms) => (Number.isFinite(ms) ? `${ms} ms` : 'stalled')).join(', ')}`);
  assert.ok(results.every((ms) => ms < 8000), 'every handshake completes within 8 s');
});

test('the KCP listener asks for KCP_SOCKET_BUFFER_BYTES and logs what the kernel granted, warning when it capped the request', async () => {
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const logs = memoryLogger();
  const rtmp = {} as RtmpSessionManager; // no session is opened: only the socket is under test
  const within = await listenRtmpOverKcp(rtmp, { host: '127.0.0.1', port: 0, socketBufferBytes: Math.floor(rmemMax / 2) }, logs.logger);
  const beyond = await listenRtmpOverKcp(rtmp, { host: '127.0.0.1', port: 0, socketBufferBytes: 2 * rmemMax + 4096 }, logs.logger);
  await Promise.all([within.close(), beyond.close()]);
  const [granted, capped] = logs.lines.filter((line) => String(line.msg).startsWith('kcp socket buffers'));
  assert.equal(granted?.level, 30);
  assert.ok(Number(granted?.receive) >= Math.floor(rmemMax / 2), `granted ${granted?.receive} B`);
  assert.equal(capped?.level, 40);
  assert.match(String(capped?.msg), /capped by the kernel/);
  assert.ok(Number(capped?.receive) < Number(capped?.requested));
});
