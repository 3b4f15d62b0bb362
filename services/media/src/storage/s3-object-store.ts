import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Logger } from '../logger.js';
import type { ObjectMeta, ObjectStore } from './object-store.js';
import { SpoolFullError, UploadSpool, type MovedAside, type SpoolEntry } from './upload-spool.js';

export interface S3ObjectStoreOptions {
  bucket: string;
  /** Prepended to every key (HLS_PREFIX). */
  prefix: string;
  spoolDir: string;
  /** Bytes the spool may hold while S3 is slow or unreachable (HLS_SPOOL_BYTES). */
  maxSpoolBytes: number;
  logger: Logger;
  /** Region, endpoint (S3_ENDPOINT for S3-compatible servers), credentials... */
  client: S3ClientConfig;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Longest one request may take before it is abandoned and retried (default 30 s: a large segment on a slow link). */
  requestTimeoutMs?: number;
  /** Longest a TCP/TLS connection may take to open (default 5 s). */
  connectionTimeoutMs?: number;
}

export interface S3UploadCounters {
  uploaded: number;
  retries: number;
  /** Objects refused because the spool was full (always logged). */
  refused: number;
  /** Objects the bucket refused for good (e.g. 403, NoSuchBucket) or whose spooled body vanished: moved to the spool's failed/, logged. */
  failed: number;
  /** Of those, the ones deleted rather than kept because failed/ was at its bound. */
  failedDiscarded: number;
}

/** 4xx answers that a retry can cure; any other 4xx is the same on every retry. */
const TRANSIENT_CLIENT_ERRORS = new Set(['RequestTimeout', 'RequestTimeTooSkewed', 'ExpiredToken', 'TokenRefreshRequired']);

/** Whether retrying `err` cannot help: a permanent refusal from S3, or a spool entry whose body is gone. */
function isPermanent(err: unknown): boolean {
  const e = err as { code?: string; name?: string; $metadata?: { httpStatusCode?: number } };
  if (e.code === 'ENOENT') return true;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429 && !TRANSIENT_CLIENT_ERRORS.has(e.name ?? '');
}

/**
 * HLS objects to S3, off the media path: put() only appends to the on-disk
 * spool and resolves; one uploader sends the spool to the bucket in order,
 * retrying with capped exponential backoff and jitter. During an outage
 * objects wait in the spool (bounded), and they go up in order when S3 is
 * back, also after a restart of the process. The S3 client's own retries
 * are turned off: the spool is the retry loop, so one object's retries
 * never block the caller. Every request has a deadline, so a connection
 * that stalls is retried rather than holding the loop (and close()); an
 * object S3 refuses for good is moved aside instead of blocking every
 * stream behind it at the head of the queue.
 */
export class S3ObjectStore implements ObjectStore {
  readonly counters: S3UploadCounters = { uploaded: 0, retries: 0, refused: 0, failed: 0, failedDiscarded: 0 };
  private readonly s3: S3Client;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly requestTimeoutMs: number;
  /** Aborted by close(): the request under way stops, its entry stays in the spool for the next start. */
  private readonly closing = new AbortController();
  private wake: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  private readonly loop: Promise<void>;

  private constructor(private readonly options: S3ObjectStoreOptions, readonly spool: UploadSpool) {
    this.s3 = new S3Client({
      requestHandler: { connectionTimeout: options.connectionTimeoutMs ?? 5000 },
      ...options.client,
      maxAttempts: 1,
    });
    this.retryBaseMs = options.retryBaseMs ?? 200;
    this.retryMaxMs = options.retryMaxMs ?? 10_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.loop = this.uploadLoop();
  }

  static async open(options: S3ObjectStoreOptions): Promise<S3ObjectStore> {
    const spool = await UploadSpool.open(options.spoolDir, options.maxSpoolBytes);
    if (spool.length > 0) options.logger.info({ objects: spool.length, bytes: spool.bytes }, 'resuming uploads left in the spool');
    return new S3ObjectStore(options, spool);
  }

  async put(key: string, body: Buffer, meta: ObjectMeta): Promise<void> {
    await this.enqueue(key, 'put', body, meta);
  }

  async get(key: string): Promise<Buffer | null> {
    const pending = this.spool.newest(key);
    if (pending?.op === 'delete') return null;
    if (pending) {
      try {
        return await this.spool.body(pending);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // uploaded meanwhile: the bucket has it
      }
    }
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.options.prefix + key }), { abortSignal: this.deadline() });
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.enqueue(key, 'delete', Buffer.alloc(0));
  }

  async flush(timeoutMs: number): Promise<boolean> {
    if (this.spool.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (!drained) this.options.logger.warn({ pending: this.spool.length, bytes: this.spool.bytes }, 'uploads still pending; they stay in the spool for the next start');
    return drained;
  }

  /** Stops uploading at once (flush() is the way to wait); whatever is not up yet stays in the spool for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    this.wake?.();
    await this.loop;
    this.s3.destroy();
  }

  private async enqueue(key: string, op: 'put' | 'delete', body: Buffer, meta?: ObjectMeta): Promise<void> {
    try {
      await this.spool.add(key, op, body, meta);
    } catch (err) {
      if (err instanceof SpoolFullError) {
        this.counters.refused++;
        this.options.logger.error({ key, spoolBytes: this.spool.bytes }, 'upload spool full: object not kept');
      }
      throw err;
    }
    this.wake?.();
  }

  private async uploadLoop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      const entry = this.spool.head();
      if (!entry) {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      try {
        await this.send(entry);
        await this.spool.done(entry);
        this.counters.uploaded++;
        if (failures > 0) this.options.logger.info({ after: failures }, 'S3 uploads resumed');
        failures = 0;
      } catch (err) {
        if (this.closed) break;
        if (isPermanent(err) && (await this.moveAside(entry, err))) continue;
        failures++;
        this.counters.retries++;
        const delay = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(failures - 1, 16)) * (0.5 + Math.random() / 2);
        if (failures === 1 || failures % 10 === 0) {
          this.options.logger.warn({ err, key: entry.key, failures, pending: this.spool.length }, 'S3 upload failed; retrying');
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          // New objects do not cut the backoff short; only close() does.
          this.wake = () => {
            if (!this.closed) return;
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
    }
  }

  /** False if the entry could not be moved: it stays at the head and is retried like a transient failure. */
  private async moveAside(entry: SpoolEntry, err: unknown): Promise<boolean> {
    let outcome: MovedAside;
    try {
      outcome = await this.spool.moveAside(entry);
    } catch (moveErr) {
      this.options.logger.error({ err: moveErr, key: entry.key }, 'could not move a failed upload aside');
      return false;
    }
    this.counters.failed++;
    if (outcome === 'discarded') this.counters.failedDiscarded++;
    this.options.logger.error({ err, key: entry.key, failed: this.counters.failed, discarded: this.counters.failedDiscarded },
      outcome === 'kept' ? 'S3 refused an object for good; moved to the spool\'s failed/ folder'
        : 'S3 refused an object for good; deleted, the spool\'s failed/ folder is full');
    return true;
  }

  /** A request's abort signal: its own deadline, or close(). */
  private deadline(): AbortSignal {
    return AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.requestTimeoutMs)]);
  }

  private async send(entry: SpoolEntry): Promise<void> {
    const Key = this.options.prefix + entry.key;
    if (entry.op === 'delete') {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key }), { abortSignal: this.deadline() });
      return;
    }
    const Body = await this.spool.body(entry);
    await this.s3.send(new PutObjectCommand({
      Bucket: this.options.bucket,
      Key,
      Body,
      ContentType: entry.meta?.contentType,
      CacheControl: entry.meta?.cacheControl,
      Metadata: entry.meta?.metadata,
    }), { abortSignal: this.deadline() });
  }
}
