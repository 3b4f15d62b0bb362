import type { Logger } from '../logger.js';
import type { PublishDecision } from '../rtmp/server-session.js';
import { isValidAppName, isValidStreamName } from '../rtmp/names.js';
import { hashStreamKey, isWellFormedStreamKey } from '@bridgecast/stream-keys';
import type { StreamKeyStore } from '@bridgecast/stream-keys';
import { throttleKeyForAddress } from './address-key.js';
import { DEFAULT_THROTTLE_POLICY, FailureThrottle, type ThrottlePolicy } from './failure-throttle.js';
import { TtlCache } from './ttl-cache.js';

export type { PublishDecision };

/** A publish attempt: `rtmp://host/<app>/<key>` (the query string already split off) and who sent it. */
export interface PublishRequest {
  app: string;
  key: string;
  remoteAddress: string;
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
  store: Pick<StreamKeyStore, 'resolveKey' | 'isStreamActive'>;
  logger: Logger;
  cache?: KeyCachePolicy;
  throttle?: ThrottlePolicy;
  /** Milliseconds clock, replaceable in tests. */
  now?: () => number;
}

/** The first characters of the key's hash: enough to correlate log lines, useless to an attacker. */
const keyFingerprint = (key: string) => hashStreamKey(key).slice(0, 8);

/**
 * AUTH=keys: the stream name is a stream key, resolved to its stream id
 * through the table. Store failures reject the promise (the session
 * answers with an error) and are neither cached nor counted as failures.
 */
export class StreamKeyAuthorizer implements PublishAuthorizer {
  private readonly cachePolicy: KeyCachePolicy;
  /** Keyed by key hash, so the cache holds no usable secrets; null marks a known-bad key. */
  private readonly lookups: TtlCache<string, string | null>;
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

  async authorizePublish({ app, key, remoteAddress }: PublishRequest): Promise<PublishDecision> {
    const source = throttleKeyForAddress(remoteAddress);
    const verdict = this.failures.check(source, this.now());
    if (!verdict.allowed) {
      const seconds = Math.ceil(verdict.retryAfterMs / 1000);
      this.options.logger.warn({ remoteAddress, app, key: keyFingerprint(key) }, 'publish refused: too many failed attempts');
      return { ok: false, code: 'RateLimited', reason: `too many failed attempts; retry in ${seconds} s` };
    }
    if (!isValidAppName(app)) return this.refuse(source, remoteAddress, key, badName('invalid app name'));
    if (!isWellFormedStreamKey(key)) return this.refuse(source, remoteAddress, key, badName('malformed stream key'));

    const streamId = await this.resolve(key);
    if (!streamId) return this.refuse(source, remoteAddress, key, { ok: false, code: 'Unauthorized', reason: 'unknown or revoked stream key' });
    this.failures.recordSuccess(source);
    this.options.logger.info({ streamId, remoteAddress, key: keyFingerprint(key) }, 'publish authorized');
    return { ok: true, streamId };
  }

  isStreamActive(streamId: string): Promise<boolean> {
    return this.options.store.isStreamActive(streamId);
  }

  forgetStream(streamId: string): void {
    this.forgets++;
    this.lookups.deleteValue(streamId);
  }

  private async resolve(key: string): Promise<string | null> {
    const hash = hashStreamKey(key);
    const cached = this.lookups.get(hash, this.now());
    if (cached !== undefined) return cached;
    const forgetsBefore = this.forgets;
    const streamId = (await this.options.store.resolveKey(key))?.streamId ?? null;
    // The answer may predate a rotation that finished while we waited: use it once, do not keep it.
    if (this.forgets !== forgetsBefore) return streamId;
    const ttl = streamId ? this.cachePolicy.positiveTtlMs : this.cachePolicy.negativeTtlMs;
    this.lookups.set(hash, streamId, ttl, this.now());
    return streamId;
  }

  private refuse(source: string, remoteAddress: string, key: string, decision: PublishDecision): PublishDecision {
    this.failures.recordFailure(source, this.now());
    this.options.logger.warn({ remoteAddress, key: keyFingerprint(key), decision }, 'publish refused');
    return decision;
  }
}
