import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import {
  parsePlaybackToken, parsePublicKeys, publicKeyFingerprint, streamResource, verifySignedPolicy,
  type PlaybackSigner, type PlaybackVerifier, type SignedPolicy, type VerifyResult,
} from '@bridgecast/stream-keys';
import { HLS_APP } from '../hls/hls-writer.js';
import type { Logger } from '../logger.js';
import { verifyPlayToken } from './play-token.js';
import { TtlCache } from './ttl-cache.js';

/**
 * Who may watch what. Public streams: everyone, or holders of a
 * PLAY_TOKEN_SECRET token when that is set (as before). Private streams
 * (created with `"private": true`): only holders of a playback credential
 * for that very stream, checked exactly as CloudFront checks it (see
 * playback-credentials.ts): the HLS route reads the CloudFront-* cookies,
 * RTMP, KCP and HTTP-FLV read `?token=`. Whether a stream is private comes
 * from the streams table, cached for a few seconds; a failed lookup refuses
 * (a table outage must not open private streams).
 */
export interface PlaybackAccessOptions {
  /** Where a stream's privacy is read: the streams table, or on an edge the origin's listing (EdgeRuntime). */
  store: { getStream(streamId: string): Promise<{ private?: boolean } | undefined> } | undefined;
  verifier: PlaybackVerifier;
  playTokenSecret: string | undefined;
  logger: Logger;
  /** How long a stream's privacy is trusted without asking the table (ms). */
  cacheTtlMs?: number;
}

const PRIVACY_CACHE_ENTRIES = 10_000;

export class PlaybackAccess {
  /** Refused private-playback requests by reason (see RefusalReason): exported on /metrics. */
  readonly refusals = new Map<string, number>();
  private readonly privacy = new TtlCache<string, boolean>(PRIVACY_CACHE_ENTRIES);
  private readonly cacheTtlMs: number;

  constructor(private readonly options: PlaybackAccessOptions) {
    this.cacheTtlMs = options.cacheTtlMs ?? 5_000;
  }

  /** Streams the table does not know (AUTH=none, relayed from elsewhere) are public. */
  async isPrivate(streamId: string): Promise<boolean> {
    const { store } = this.options;
    if (!store) return false;
    const now = Date.now();
    const cached = this.privacy.get(streamId, now);
    if (cached !== undefined) return cached;
    const isPrivate = (await store.getStream(streamId))?.private === true;
    this.privacy.set(streamId, isPrivate, this.cacheTtlMs, now);
    return isPrivate;
  }

  /** RTMP, KCP and HTTP-FLV play of `app/name`. */
  async authorizeStreamPlay(app: string, name: string, query: URLSearchParams, remoteAddress: string): Promise<boolean> {
    const token = query.get('token');
    if (await this.isPrivate(name)) {
      return this.check(verifySignedPolicy(this.options.verifier, parsePlaybackToken(token), streamResource(app, name), remoteAddress), name, remoteAddress);
    }
    return this.publicAllowed(app, name, token);
  }

  /**
   * A request of the local HLS route for stream `streamId` at `url` (scheme,
   * Host and path: what the policy's Resource is matched against).
   */
  async authorizeHls(req: IncomingMessage, streamId: string, url: string, query: URLSearchParams): Promise<boolean> {
    const remoteAddress = req.socket.remoteAddress ?? '';
    if (await this.isPrivate(streamId)) {
      return this.check(verifySignedPolicy(this.options.verifier, signedCookies(req.headers.cookie), url, remoteAddress), streamId, remoteAddress);
    }
    return this.publicAllowed(HLS_APP, streamId, query.get('token'));
  }

  private publicAllowed(app: string, name: string, token: string | null): boolean {
    const secret = this.options.playTokenSecret;
    return secret === undefined || verifyPlayToken(secret, app, name, token);
  }

  private check(result: VerifyResult, streamId: string, remoteAddress: string): boolean {
    if (!result.ok) {
      this.refusals.set(result.reason, (this.refusals.get(result.reason) ?? 0) + 1);
      this.options.logger.info({ streamId, remoteAddress, reason: result.reason }, 'private playback refused');
    }
    return result.ok;
  }
}

const COOKIE_NAMES: Record<string, keyof SignedPolicy> = {
  'CloudFront-Policy': 'policy',
  'CloudFront-Signature': 'signature',
  'CloudFront-Key-Pair-Id': 'keyPairId',
};

/**
 * The CloudFront-* cookies of a Cookie header. Browsers send the cookie with
 * the longest matching Path first, so when a viewer holds several sets the
 * first of each name is the one scoped to this request.
 */
export function signedCookies(header: string | undefined): Partial<SignedPolicy> {
  const parts: Partial<SignedPolicy> = {};
  for (const pair of (header ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const field = COOKIE_NAMES[pair.slice(0, eq).trim()];
    if (field && parts[field] === undefined) parts[field] = pair.slice(eq + 1).trim();
  }
  return parts;
}

// ---- Keys --------------------------------------------------------------------

export interface PlaybackKeys {
  /** Mutable: an edge adds the origin's keys as its listing names them. */
  verifier: Map<string, KeyObject>;
  /** Only where this process also serves the keys API (the embedded table): its own signing key. */
  signer: PlaybackSigner | undefined;
}

const LOCAL_KEY_FILE = 'playback-signing-key.pem';

/**
 * The trusted public keys (PLAYBACK_PUBLIC_KEYS) and, on a laptop, a
 * signing key of this server's own: generated on first start into
 * `<DATA_DIR>/playback-signing-key.pem` (owner-only, as secret as the
 * Secrets Manager copy in AWS), its public key trusted under a
 * `local-<fingerprint>` id.
 */
export async function loadPlaybackKeys(options: { publicKeysJson: string | undefined; dataDir: string; localSigner: boolean }): Promise<PlaybackKeys> {
  const verifier = options.publicKeysJson ? parsePublicKeys(options.publicKeysJson) : new Map<string, KeyObject>();
  if (!options.localSigner) return { verifier, signer: undefined };
  const privateKey = await readOrCreatePrivateKey(path.join(options.dataDir, LOCAL_KEY_FILE));
  const publicKey = createPublicKey(privateKey);
  const keyPairId = `local-${publicKeyFingerprint(publicKey)}`;
  verifier.set(keyPairId, publicKey);
  return { verifier, signer: { keyPairId, privateKey } };
}

async function readOrCreatePrivateKey(file: string): Promise<KeyObject> {
  try {
    return createPrivateKey(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // RSA 2048: what CloudFront public keys are (it accepts RSA 2048 and ECDSA 256).
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await chmod(file, 0o600);
  return privateKey;
}
