import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * RTMP handshake. C0/S0 is the version byte (3); C1/S1/C2/S2 are 1536 bytes.
 *
 * Simple handshake: S2 echoes C1 and the client's C2 echoes S1.
 * Digest ("complex") handshake, used by Flash Player and by encoders and
 * players that imitate it (ffmpeg among them): C1 carries an HMAC-SHA256
 * digest at an offset derived from its own bytes; the server must answer
 * with S1 carrying its own digest and S2 signed with a key derived from the
 * client's digest, or such clients refuse to play some content. A client
 * whose C1 validates under neither digest layout gets the simple handshake.
 */

export const RTMP_VERSION = 3;
export const HANDSHAKE_SIZE = 1536;

const KEY_TAIL = Buffer.from(
  'f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex',
);
/** "Genuine Adobe Flash Player 001" + tail; the first 30 bytes sign C1. */
const CLIENT_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Player 001', 'latin1'), KEY_TAIL]);
/** "Genuine Adobe Flash Media Server 001" + tail; the first 36 bytes sign S1. */
const SERVER_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1'), KEY_TAIL]);
const CLIENT_KEY_SHORT = CLIENT_KEY.subarray(0, 30);
const SERVER_KEY_SHORT = SERVER_KEY.subarray(0, 36);
const DIGEST_LENGTH = 32;

/** The two layouts: the digest block starts at byte 8 or at byte 772. */
type DigestScheme = 0 | 1;

function digestOffset(block: Buffer, scheme: DigestScheme): number {
  const base = scheme === 0 ? 8 : 772;
  const sum = block[base]! + block[base + 1]! + block[base + 2]! + block[base + 3]!;
  return (sum % 728) + base + 4;
}

function hmac(key: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC over the block with the digest bytes left out. */
function blockDigest(block: Buffer, offset: number, key: Buffer): Buffer {
  return hmac(key, block.subarray(0, offset), block.subarray(offset + DIGEST_LENGTH));
}

/** Finds the client's digest in C1, or returns null if C1 is a simple-handshake C1. */
export function findClientDigest(c1: Buffer): Buffer | null {
  if (c1.readUInt32BE(4) === 0) return null; // version zero: the peer asks for the simple handshake
  for (const scheme of [0, 1] as const) {
    const offset = digestOffset(c1, scheme);
    const expected = blockDigest(c1, offset, CLIENT_KEY_SHORT);
    if (expected.equals(c1.subarray(offset, offset + DIGEST_LENGTH))) return expected;
  }
  return null;
}

/** Builds S0+S1+S2 for a given C1. */
export function serverHandshakeResponse(c1: Buffer): Buffer {
  const clientDigest = findClientDigest(c1);
  const s0 = Buffer.from([RTMP_VERSION]);
  const s1 = randomBytes(HANDSHAKE_SIZE);
  s1.writeUInt32BE(0, 0); // our epoch
  if (!clientDigest) {
    s1.writeUInt32BE(0, 4);
    return Buffer.concat([s0, s1, c1]);
  }
  s1.writeUInt32BE(0x04050001, 4); // a server version, as FMS sends
  const offset = digestOffset(s1, 0);
  blockDigest(s1, offset, SERVER_KEY_SHORT).copy(s1, offset);

  const s2 = randomBytes(HANDSHAKE_SIZE);
  const s2Key = hmac(SERVER_KEY, clientDigest);
  const signatureAt = HANDSHAKE_SIZE - DIGEST_LENGTH;
  hmac(s2Key, s2.subarray(0, signatureAt)).copy(s2, signatureAt);
  return Buffer.concat([s0, s1, s2]);
}

/** Finds S1's digest (either layout), or null for a simple-handshake S1. */
function findServerDigest(s1: Buffer): Buffer | null {
  for (const scheme of [0, 1] as const) {
    const offset = digestOffset(s1, scheme);
    const digest = s1.subarray(offset, offset + DIGEST_LENGTH);
    if (blockDigest(s1, offset, SERVER_KEY_SHORT).equals(digest)) return digest;
  }
  return null;
}

/**
 * Whether C2 proves the client received our S1 (the return-routability
 * check a UDP transport needs before it trusts the source address). Two
 * forms are accepted, as ffmpeg and librtmp send them: an echo of S1's
 * random bytes (bytes 4..7 may hold the client's read time, so they are not
 * compared), or, after a digest S1, random bytes signed with a key derived
 * from S1's digest. A sender that never saw S1 can forge neither.
 */
export function c2AnswersS1(s1: Buffer, c2: Buffer): boolean {
  if (c2.length !== HANDSHAKE_SIZE) return false;
  if (c2.subarray(8).equals(s1.subarray(8))) return true;
  const serverDigest = findServerDigest(s1);
  if (!serverDigest) return false;
  const key = hmac(CLIENT_KEY, serverDigest);
  const signatureAt = HANDSHAKE_SIZE - DIGEST_LENGTH;
  return hmac(key, c2.subarray(0, signatureAt)).equals(c2.subarray(signatureAt));
}

/** Builds a digest-handshake C2 for a digest S1 (as ffmpeg and Flash Player do); used by tests and interop. */
export function digestClientC2(s1: Buffer): Buffer {
  const c2 = randomBytes(HANDSHAKE_SIZE);
  const serverDigest = findServerDigest(s1);
  if (!serverDigest) throw new Error('S1 carries no server digest');
  const signatureAt = HANDSHAKE_SIZE - DIGEST_LENGTH;
  hmac(hmac(CLIENT_KEY, serverDigest), c2.subarray(0, signatureAt)).copy(c2, signatureAt);
  return c2;
}

/** Builds C0+C1 for our own client (simple handshake: every server accepts it). */
export function clientHandshakeStart(): Buffer {
  const c0c1 = randomBytes(1 + HANDSHAKE_SIZE);
  c0c1[0] = RTMP_VERSION;
  c0c1.writeUInt32BE(0, 1);
  c0c1.writeUInt32BE(0, 5);
  return c0c1;
}

/** Builds a digest-handshake C1 (as Flash Player would); used by tests and interop. */
export function digestClientC1(): Buffer {
  const c1 = randomBytes(HANDSHAKE_SIZE);
  c1.writeUInt32BE(0, 0);
  c1.writeUInt32BE(0x80000702, 4);
  const offset = digestOffset(c1, 0);
  blockDigest(c1, offset, CLIENT_KEY_SHORT).copy(c1, offset);
  return c1;
}

/** Verifies S2 of a digest handshake against the digest we put in C1. */
export function verifyServerS2(c1: Buffer, s2: Buffer): boolean {
  const clientDigest = findClientDigest(c1);
  if (!clientDigest) return s2.equals(c1);
  const key = hmac(SERVER_KEY, clientDigest);
  const signatureAt = HANDSHAKE_SIZE - DIGEST_LENGTH;
  return hmac(key, s2.subarray(0, signatureAt)).equals(s2.subarray(signatureAt));
}

/**
 * The session nonce both ends derive from the server's S1 (1528 random
 * bytes, fresh per session): what a KCP publish proof is bound to, so a
 * proof captured in one session is worthless in any other.
 */
export function sessionNonce(s1: Buffer): Buffer {
  return createHash('sha256').update(s1).digest();
}
