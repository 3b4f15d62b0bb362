/**
 * The RTMP handshake: the simple one (S2 echoes C1) and the digest one that
 * Flash-era clients and ffmpeg use, checked independently of our own
 * helpers (the digest positions and keys are recomputed here from the
 * published scheme), and over a real TCP connection to the server.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';
import {
  c2AnswersS1, clientHandshakeStart, digestClientC1, digestClientC2, findClientDigest, HANDSHAKE_SIZE, serverHandshakeResponse, verifyServerS2,
} from '@bridgecast/media/rtmp/handshake.js';
import { startTestServer, type TestServer } from '../helpers/media-server.js';

const FP_KEY = Buffer.from('Genuine Adobe Flash Player 001');
const FMS_KEY = Buffer.from('Genuine Adobe Flash Media Server 001');

function digestAt(block: Buffer, base: 8 | 772): number {
  return ((block[base]! + block[base + 1]! + block[base + 2]! + block[base + 3]!) % 728) + base + 4;
}

function signBlock(block: Buffer, offset: number, key: Buffer): Buffer {
  return createHmac('sha256', key).update(block.subarray(0, offset)).update(block.subarray(offset + 32)).digest();
}

/** A C1 signed with the digest in the second layout (offset base 772), as some Flash Players send. */
function scheme1C1(): Buffer {
  const c1 = randomBytes(HANDSHAKE_SIZE);
  c1.writeUInt32BE(0, 0);
  c1.writeUInt32BE(0x0a002d02, 4);
  const offset = digestAt(c1, 772);
  signBlock(c1, offset, FP_KEY).copy(c1, offset);
  return c1;
}

function split(response: Buffer): { s0: number; s1: Buffer; s2: Buffer } {
  assert.equal(response.length, 1 + 2 * HANDSHAKE_SIZE);
  return { s0: response[0]!, s1: response.subarray(1, 1 + HANDSHAKE_SIZE), s2: response.subarray(1 + HANDSHAKE_SIZE) };
}

test('C2 answers S1 only if its sender saw S1: an echo (time2 may differ) or a signature keyed on S1\'s digest', () => {
  const simpleS1 = serverHandshakeResponse(clientHandshakeStart().subarray(1)).subarray(1, 1 + HANDSHAKE_SIZE);
  const echo = Buffer.from(simpleS1);
  assert.equal(c2AnswersS1(simpleS1, echo), true, 'librtmp, OBS and our client echo S1');
  echo.writeUInt32BE(12345, 4);
  assert.equal(c2AnswersS1(simpleS1, echo), true, 'bytes 4..7 carry the client\'s read time');
  assert.equal(c2AnswersS1(simpleS1, randomBytes(HANDSHAKE_SIZE)), false, 'a blind sender cannot echo');

  const digestS1 = serverHandshakeResponse(digestClientC1()).subarray(1, 1 + HANDSHAKE_SIZE);
  assert.equal(c2AnswersS1(digestS1, digestClientC2(digestS1)), true, 'ffmpeg playing answers a digest S1 with a signed C2');
  assert.equal(c2AnswersS1(digestS1, Buffer.from(digestS1)), true, 'ffmpeg publishing echoes it');
  assert.equal(c2AnswersS1(digestS1, randomBytes(HANDSHAKE_SIZE)), false);
  assert.equal(c2AnswersS1(digestS1, digestClientC2(serverHandshakeResponse(digestClientC1()).subarray(1, 1 + HANDSHAKE_SIZE))), false, 'signed for another S1');
});

test('simple handshake: version 3, S2 echoes C1', () => {
  const c1 = clientHandshakeStart().subarray(1);
  assert.equal(findClientDigest(c1), null);
  const { s0, s2 } = split(serverHandshakeResponse(c1));
  assert.equal(s0, 3);
  assert.deepEqual(s2, c1);
  assert.ok(verifyServerS2(c1, s2));
});

test('a C1 with a version but no valid digest gets the simple handshake', () => {
  const c1 = randomBytes(HANDSHAKE_SIZE);
  c1.writeUInt32BE(0x80000702, 4);
  assert.deepEqual(split(serverHandshakeResponse(c1)).s2, c1);
});

for (const [layout, makeC1] of [['offset base 8', digestClientC1], ['offset base 772', scheme1C1]] as const) {
  test(`digest handshake (${layout}): S1 carries a valid server digest and S2 is signed for our C1`, () => {
    const c1 = makeC1();
    const clientDigest = findClientDigest(c1);
    assert.ok(clientDigest);
    const { s1, s2 } = split(serverHandshakeResponse(c1));
    const s1Offset = [digestAt(s1, 8), digestAt(s1, 772)].find((o) => signBlock(s1, o, FMS_KEY).equals(s1.subarray(o, o + 32)));
    assert.ok(s1Offset !== undefined, 'S1 digest does not validate under either layout');

    // S2's last 32 bytes: HMAC(HMAC(full FMS key, client digest), the first 1504 bytes).
    const fullFmsKey = Buffer.concat([FMS_KEY, Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex')]);
    const key = createHmac('sha256', fullFmsKey).update(clientDigest).digest();
    assert.deepEqual(s2.subarray(HANDSHAKE_SIZE - 32), createHmac('sha256', key).update(s2.subarray(0, HANDSHAKE_SIZE - 32)).digest());
    assert.ok(verifyServerS2(c1, s2));
    const forged = Buffer.from(s2);
    forged[HANDSHAKE_SIZE - 1]! ^= 1;
    assert.equal(verifyServerS2(c1, forged), false);
  });
}

let server: TestServer;
before(async () => { server = await startTestServer(); });
after(() => server.close());

test('the server completes a digest handshake over TCP and answers the chunk stream after C2', async () => {
  const socket = net.connect(server.rtmpPort, '127.0.0.1');
  const c1 = digestClientC1();
  socket.write(Buffer.concat([Buffer.from([3]), c1]));
  let received = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      if (received.length >= 1 + 2 * HANDSHAKE_SIZE) resolve();
    });
    socket.once('error', reject);
  });
  const { s1, s2 } = split(received.subarray(0, 1 + 2 * HANDSHAKE_SIZE));
  assert.ok(verifyServerS2(c1, s2));
  // C2 echoes S1; the server then opens the chunk stream with its Set Chunk Size.
  socket.write(s1);
  await new Promise<void>((resolve) => socket.on('data', () => { if (received.length > 1 + 2 * HANDSHAKE_SIZE) resolve(); }));
  const firstChunk = received.subarray(1 + 2 * HANDSHAKE_SIZE);
  assert.equal(firstChunk[0], 0x02, 'protocol control chunk stream 2, fmt 0');
  assert.equal(firstChunk[7], 1, 'Set Chunk Size');
  socket.destroy();
});
