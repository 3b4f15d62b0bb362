/**
 * Malformed input closes only the offending connection, with the reason in
 * the logs, while another live stream on the same server keeps flowing to
 * its viewer. Short handshake/idle timeouts keep the stalled cases quick.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encodeAmf0 } from '@bridgecast/media/amf/amf0.js';
import { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import { memoryLogger, startTestServer, waitFor, type LogLine, type TestServer } from '../helpers/media-server.js';
import { connectRawRtmp, rawCommand, rawMessage, rawSetChunkSize } from '../helpers/raw-rtmp.js';
import { SyntheticPublisher } from '../helpers/synthetic-media.js';

const TIMEOUT_MS = 800;
const logs = memoryLogger();
let server: TestServer;
let publisher: SyntheticPublisher;
let viewer: RtmpClient;
let viewerPackets = 0;

before(async () => {
  server = await startTestServer({ logger: logs.logger, rtmpLimits: { handshakeTimeoutMs: TIMEOUT_MS, idleTimeoutMs: TIMEOUT_MS } });
  publisher = await SyntheticPublisher.start(server.rtmpPort, 'neighbour', { fps: 30, gop: 30, frameBytes: 2000 });
  viewer = await RtmpClient.connectTcp('127.0.0.1', server.rtmpPort, { app: 'live' });
  viewer.on('packet', () => { viewerPackets++; });
  await viewer.play('neighbour');
});

after(async () => {
  viewer.close();
  publisher.stop();
  await server.close();
});

function closedWith(reason: RegExp): (line: LogLine) => boolean {
  return (line) => line.msg === 'RTMP session closed' && reason.test(String(line.reason));
}

/**
 * Runs one misbehaving connection: `misbehave` writes its input, the server
 * must close that connection and log `reason`; meanwhile the neighbour
 * stream keeps reaching its viewer and the session is cleaned up.
 */
async function expectClosed(reason: RegExp, misbehave: (socket: import('node:net').Socket) => void, handshake = true): Promise<number> {
  const stream = server.hub.get('live', 'neighbour');
  assert.ok(stream, 'the neighbour stream is live');
  const sessionsBefore = server.rtmp.sessions.size;
  const packetsBefore = viewerPackets;
  const peer = await connectRawRtmp(server.rtmpPort, handshake);
  misbehave(peer.socket);
  const closedAfterMs = await Promise.race([
    peer.closed,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`connection not closed (expected ${reason})`)), 5000)),
  ]);
  const line = await logs.waitForLine(closedWith(reason), 2000);
  assert.equal(line.remote, '127.0.0.1');
  await waitFor(() => server.rtmp.sessions.size === sessionsBefore, 2000, 'the session to be removed');
  await waitFor(() => viewerPackets > packetsBefore + 10, 3000, 'the neighbour viewer to keep receiving');
  assert.equal(server.hub.get('live', 'neighbour'), stream, 'the neighbour stream is untouched');
  return closedAfterMs;
}

test('garbage instead of C0/C1 (an HTTP request to the RTMP port)', async () => {
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n${'X-Pad: y\r\n'.repeat(200)}\r\n`);
  await expectClosed(/protocol error: unsupported RTMP version byte 71/, (s) => s.write(request), false);
});

test('a partial C0/C1 that never completes is closed at the handshake timeout', async () => {
  const ms = await expectClosed(/handshake timeout/, (s) => s.write(Buffer.from([3, 0, 0, 0])), false);
  assert.ok(ms >= TIMEOUT_MS * 0.9, `closed after ${ms} ms`);
});

test('garbage after the handshake', async () => {
  await expectClosed(/protocol error: chunk stream \d+ starts with a type \d header/, (s) => s.write('GET /live/x.flv HTTP/1.1\r\n\r\n'));
});

test('Set Chunk Size 0', async () => {
  await expectClosed(/protocol error: invalid chunk size 0$/, (s) => s.write(rawSetChunkSize(0)));
});

test('Set Chunk Size 2^31', async () => {
  await expectClosed(/protocol error: invalid chunk size 2147483648/, (s) => s.write(rawSetChunkSize(2 ** 31)));
});

test('a message whose declared length never arrives is closed at the idle timeout', async () => {
  const header = rawMessage(9, Buffer.alloc(1000), { csid: 6, streamId: 1 }).subarray(0, 12 + 50);
  const ms = await expectClosed(/idle timeout/, (s) => s.write(header));
  assert.ok(ms >= TIMEOUT_MS, `closed after ${ms} ms`);
});

test('a huge declared message length', async () => {
  const header = rawMessage(9, Buffer.alloc(0), { csid: 6 });
  header.writeUIntBE(0xffffff, 4, 3); // message length field
  await expectClosed(/protocol error: message of 16777215 bytes exceeds/, (s) => s.write(header));
});

test('64 chunk streams each opening an 8 MiB message with one chunk (512 MiB reserved without the cap)', async () => {
  const attack = Buffer.concat(Array.from({ length: 64 }, (_, i) => {
    const csid = 3 + i;
    const first = rawMessage(9, Buffer.alloc(128), { csid, streamId: 1 });
    first.writeUIntBE(8 * 1024 * 1024, csid < 64 ? 4 : 5, 3); // message length field, after the 1- or 2-byte basic header
    return first;
  }));
  // The third 8 MiB message would pass the 16 MiB cap: refused before it is allocated.
  await expectClosed(/protocol error: message of 8388608 bytes on chunk stream 5 would bring partly received messages to 25165824 bytes, over the 16777216-byte limit/, (s) => s.write(attack));
});

test('an unknown AMF0 type marker in a command', async () => {
  const payload = Buffer.concat([encodeAmf0('connect', 1), Buffer.from([0x20, 0, 0])]);
  await expectClosed(/protocol error: unsupported AMF0 type marker 0x20/, (s) => s.write(rawMessage(20, payload)));
});

test('a command that is not a command (no name)', async () => {
  await expectClosed(/protocol error: command message without a command name/, (s) => s.write(rawMessage(20, encodeAmf0(42))));
});

test('well-formed commands still work after all that, and protocol errors were counted', async () => {
  const peer = await connectRawRtmp(server.rtmpPort);
  peer.socket.write(rawCommand('connect', 1, { app: 'live' }));
  await waitFor(() => peer.received().includes('NetConnection.Connect.Success'), 3000, 'the connect reply');
  peer.socket.destroy();
  assert.ok(server.rtmp.counters.protocolErrors >= 8, `protocolErrors = ${server.rtmp.counters.protocolErrors}`);
});
