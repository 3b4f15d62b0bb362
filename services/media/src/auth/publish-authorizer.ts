import type { Logger } from '../logger.js';
import type { PublishDecision } from '../rtmp/server-session.js';
import { isValidAppName, isValidStreamName } from '../rtmp/names.js';
import { hashStreamKey, isPublishProof, isWellFormedStreamKey, parsePublishProof, verifyPublishProof } from '@bridgecast/stream-keys';
import type { StreamKeyStore } from '@bridgecast/stream-keys';
import { throttleKeyForAddress } from './address-key.js';
import { DEFAULT_THROTTLE_POLICY, FailureThrottle, type ThrottlePolicy } from './failure-throttle.js';
import { TtlCache } from './ttl-cache.js';

export type { PublishDecision };

/** A publish attempt: `rtmp://host/<app>/<key>` (the query string already split off) and who sent it. */
export interface PublishRequest {
  app: string;
  /** The plain stream key, or (required over KCP) a publish proof bound to `serverNonce` (see publish-proof.ts). */
  key: string;
  remoteAddress: string;
  /** This session's server nonce (digest of its RTMP S1): what a publish proof must be bound to. */
  serverNonce?: Buffer;
  /** True on transports whose bytes a bystander can read and replay (KCP): the plain key is refused. */
  requireProof?: boolean;
}

/** Decides who may publish; RTMP and KCP ingest both ask it. */
export interface PublishAuthorizer {
  authorizePublish(request: PublishRequest): Promise<PublishDecision>;
  /** False once a stream is revoked: live publishers of it are to be cut off. Not cached. */
  isStreamActive(streamId: string): Promise<boolean>;
  /** The stream's key was rotated or the stream revoked in this process: forget what was cached about it. */
  forgetStream(streamId: string): void;
}

const badName = (reason: string): PublishDecision => ({ ok: false, code: 'BadName', reason });
const unauthorized = (reason: string): PublishDecision => ({ ok: false, code: 'Unauthorized', reason });

/** AUTH=none: the stream name is the stream id; anyone may publish a safe name. */
export class OpenAuthorizer implements PublishAuthorizer {
  async authorizePublish({ app, key }: PublishRequest): Promise<PublishDecision> {
    if (!isValidAppName(app)) return badName('invalid app name');
    return isValidStreamName(key) ? { ok: true, streamId: key } : badName('invalid stream name');
  }

  async isStreamActive(_streamId: string): Promise<boolean> {
    return true; // nothing to revoke
  }

  forgetStream(_streamId: string): void {} // nothing cached
}

export interface KeyCachePolicy {
  maxEntries: number;
  /**
   * How long a valid key is trusted without asking the table: also how long
   * a rotated-out key may still work on a task that was not told of the
   * rotation (forgetStream; in AWS the API runs elsewhere and tells no task).
   */
  positiveTtlMs: number;
  /** Shorter, so a key created a moment ago is not refused for long. */
  negativeTtlMs: number;
}

export const DEFAULT_KEY_CACHE_POLICY: KeyCachePolicy = { maxEntries: 1000, positiveTtlMs: 5_000, negativeTtlMs: 1_000 };

export interface StreamKeyAuthorizerOptions {
  store: Pick<StreamKeyStore, 'resolveKeyHash' | 'isStreamActive'>;
  logger: Logger;
  cache?: KeyCachePolicy;
  throttle?: ThrottlePolicy;
  /** Milliseconds clock, replaceable in tests. */
  now?: () => number;
}

/** The first characters of the key's hash: enough to correlate log lines, useless to an attacker. */
const keyFingerprint = (key: string) => (isPublishProof(key) ? key.slice(4, 12) : hashStreamKey(key).slice(0, 8));

/** A key hash resolved through the table: the stream and what checks its publish proofs; null for unknown keys. */
type ResolvedKey = { streamId: string; publishVerifier?: string } | null;

/**
 * AUTH=keys: the stream name is a stream key, resolved to its stream id
 * through the table. Store failures reject the promise (the session
 * answers with an error) and are neither cached nor counted as failures.
 */
export class StreamKeyAuthorizer implements PublishAuthorizer {
  private readonly cachePolicy: KeyCachePolicy;
  /** Keyed by key hash, so the cache holds no usable secrets; null marks a known-bad key. */
  private readonly lookups: TtlCache<string, ResolvedKey>;
  private readonly failures: FailureThrottle;
  private readonly now: () => number;
  /** Bumped by forgetStream: a lookup that started before must not cache its (possibly stale) answer. */
  private forgets = 0;

  constructor(private readonly options: StreamKeyAuthorizerOptions) {
    this.cachePolicy = options.cache ?? DEFAULT_KEY_CACHE_POLICY;
    this.lookups = new TtlCache(this.cachePolicy.maxEntries);
    this.failures = new FailureThrottle(options.throttle ?? DEFAULT_THROTTLE_POLICY);
    this.now = options.now ?? Date.now;
  }

  async authorizePublish({ app, key, remoteAddress, serverNonce, requireProof }: PublishRequest): Promise<PublishDecision> {
    const source = throttleKeyForAddress(remoteAddress);
    const verdict = this.failures.check(source, this.now());
    if (!verdict.allowed) {
      const seconds = Math.ceil(verdict.retryAfterMs / 1000);
      this.options.logger.warn({ remoteAddress, app, key: keyFingerprint(key) }, 'publish refused: too many failed attempts');
      return { ok: false, code: 'RateLimited', reason: `too many failed attempts; retry in ${seconds} s` };
    }
    if (!isValidAppName(app)) return this.refuse(source, remoteAddress, key, badName('invalid app name'));
    let streamId: string;
    if (isPublishProof(key)) {
      const proof = parsePublishProof(key);
      if (!proof || !serverNonce) return this.refuse(source, remoteAddress, key, badName('malformed publish proof'));
      const resolved = await this.resolve(proof.keyHash);
      if (!resolved) return this.refuse(source, remoteAddress, key, unauthorized('unknown or revoked stream key'));
      if (!resolved.publishVerifier) {
        return this.refuse(source, remoteAddress, key, unauthorized('this stream key predates publish proofs; rotate it to publish over KCP'));
      }
      if (!verifyPublishProof(resolved.publishVerifier, app, proof.keyHash, proof.signature, serverNonce)) {
        return this.refuse(source, remoteAddress, key, unauthorized('publish proof does not match this session (replayed or wrong key)'));
      }
      streamId = resolved.streamId;
    } else {
      if (!isWellFormedStreamKey(key)) return this.refuse(source, remoteAddress, key, badName('malformed stream key'));
      if (requireProof) {
        // The key itself was just sent in clear over UDP: refuse it, and say how to publish.
        return this.refuse(source, remoteAddress, key, unauthorized('over KCP send a publish proof, not the stream key (bridgecast kcp-push and publishOverKcp make one)'));
      }
      const resolved = await this.resolve(hashStreamKey(key));
      if (!resolved) return this.refuse(source, remoteAddress, key, unauthorized('unknown or revoked stream key'));
      streamId = resolved.streamId;
    }
    this.failures.recordSuccess(source);
    this.options.logger.info({ streamId, remoteAddress, key: keyFingerprint(key) }, 'publish authorized');
    return { ok: true, streamId };
  }

  isStreamActive(streamId: string): Promise<boolean> {
    return this.options.store.isStreamActive(streamId);
  }

  forgetStream(streamId: string): void {
    this.forgets++;
    this.lookups.deleteWhere((resolved) => resolved?.streamId === streamId);
  }

  private async resolve(hash: string): Promise<ResolvedKey> {
    const cached = this.lookups.get(hash, this.now());
    if (cached !== undefined) return cached;
    const forgetsBefore = this.forgets;
    const stream = await this.options.store.resolveKeyHash(hash);
    const resolved: ResolvedKey = stream ? { streamId: stream.streamId, publishVerifier: stream.publishVerifier } : null;
    // The answer may predate a rotation that finished while we waited: use it once, do not keep it.
    if (this.forgets !== forgetsBefore) return resolved;
    const ttl = resolved ? this.cachePolicy.positiveTtlMs : this.cachePolicy.negativeTtlMs;
    this.lookups.set(hash, resolved, ttl, this.now());
    return resolved;
  }

  private refuse(source: string, remoteAddress: string, key: string, decision: PublishDecision): PublishDecision {
    this.failures.recordFailure(source, this.now());
    this.options.logger.warn({ remoteAddress, key: keyFingerprint(key), decision }, 'publish refused');
    return decision;
  }
}
