import { createHash, randomBytes } from 'node:crypto';

/**
 * Stream keys and stream ids. A key is a bearer secret (`sk_` + 256 random
 * bits, base64url) that only the publisher sees; the id (`st_` + 80 random
 * bits, base32) is public and appears in playback URLs.
 */

const STREAM_KEY = /^sk_[A-Za-z0-9_-]{43}$/;
/** Broader than what generateStreamId makes, as the shared contract allows (`st_` + 12+ base32/base64url chars). */
const STREAM_ID = /^st_[A-Za-z0-9_-]{12,64}$/;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export function generateStreamKey(): string {
  return `sk_${randomBytes(32).toString('base64url')}`;
}

export function generateStreamId(): string {
  // 10 bytes = 80 bits = exactly 16 base32 characters; lowercase keeps ids URL- and S3-friendly.
  let bits = 0n;
  for (const byte of randomBytes(10)) bits = (bits << 8n) | BigInt(byte);
  let id = '';
  for (let i = 0; i < 16; i++) {
    id = BASE32[Number(bits & 31n)] + id;
    bits >>= 5n;
  }
  return `st_${id}`;
}

export function isWellFormedStreamKey(key: string): boolean {
  return STREAM_KEY.test(key);
}

export function isWellFormedStreamId(id: string): boolean {
  return STREAM_ID.test(id);
}

/**
 * What the table stores instead of the key. A plain SHA-256 is enough (no
 * salt or slow hash): the keys are 256-bit random values, so there is
 * nothing to brute-force, and an unsalted digest can be looked up by index.
 */
export function hashStreamKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
