import { createHmac, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { hashStreamKey } from './keys.js';

/**
 * Publishing over KCP without the stream key on the wire. RTMP carries the
 * key in clear in its publish command; over UDP anyone on the path can read
 * it. So a KCP publisher sends, instead of the key, a proof that it holds
 * the key, bound to this session's server nonce (a digest of the RTMP S1
 * the server sent, random per session):
 *
 *   kp1.<SHA-256 of the key, hex>.<Ed25519 signature, base64url>
 *
 * The Ed25519 key pair is derived from the stream key (seed =
 * HMAC-SHA256(key, label)); the table keeps only the public half, next to
 * the key hash. The hash names the stream (the table's keyHash index finds
 * it) and reveals nothing usable; the signature covers the app, the hash and
 * the nonce, so a captured publish replayed in another session (another
 * S1) fails, and a copy of the table cannot produce one either.
 * RTMP over TCP keeps accepting the plain key (OBS cannot sign).
 */

const SEED_LABEL = 'bridgecast publish proof v1';
const PROOF_PREFIX = 'kp1.';
/** PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8_HEADER = Buffer.from('302e020100300506032b657004220420', 'hex');
/** SPKI DER header of an Ed25519 public key; the 32-byte key follows. */
const ED25519_SPKI_HEADER = Buffer.from('302a300506032b6570032100', 'hex');
const PROOF = /^kp1\.([0-9a-f]{64})\.([A-Za-z0-9_-]{86})$/;

function signingKey(streamKey: string): KeyObject {
  const seed = createHmac('sha256', streamKey).update(SEED_LABEL).digest();
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_HEADER, seed]), format: 'der', type: 'pkcs8' });
}

/** What the table stores to check proofs: the raw Ed25519 public key, base64url. */
export function publishVerifierForKey(streamKey: string): string {
  const spki = createPublicKey(signingKey(streamKey)).export({ format: 'der', type: 'spki' });
  return spki.subarray(ED25519_SPKI_HEADER.length).toString('base64url');
}

function signedMessage(app: string, keyHash: string, nonce: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${SEED_LABEL}\n${app}\n${keyHash}\n`), nonce]);
}

/** The name a KCP publisher sends instead of its key, for `app` in the session whose server nonce is `nonce`. */
export function publishProof(streamKey: string, app: string, nonce: Buffer): string {
  const keyHash = hashStreamKey(streamKey);
  return `${PROOF_PREFIX}${keyHash}.${sign(null, signedMessage(app, keyHash, nonce), signingKey(streamKey)).toString('base64url')}`;
}

export function isPublishProof(name: string): boolean {
  return name.startsWith(PROOF_PREFIX);
}

/** The key hash a proof names, or undefined when it is not a well-formed proof. */
export function parsePublishProof(name: string): { keyHash: string; signature: Buffer } | undefined {
  const match = PROOF.exec(name);
  return match ? { keyHash: match[1]!, signature: Buffer.from(match[2]!, 'base64url') } : undefined;
}

export function verifyPublishProof(verifierKey: string, app: string, keyHash: string, signature: Buffer, nonce: Buffer): boolean {
  const raw = Buffer.from(verifierKey, 'base64url');
  if (raw.length !== 32) return false;
  const publicKey = createPublicKey({ key: Buffer.concat([ED25519_SPKI_HEADER, raw]), format: 'der', type: 'spki' });
  return verify(null, signedMessage(app, keyHash, nonce), publicKey, signature);
}
