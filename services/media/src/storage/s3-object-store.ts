import { DeleteObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Logger } from '../logger.js';
import type { ObjectMeta, ObjectStore } from './object-store.js';
import { SpoolFullError, UploadSpool, type SpoolEntry } from './upload-spool.js';

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
}

export interface S3UploadCounters {
  uploaded: number;
  retries: number;
  /** Objects refused because the spool was full (always logged). */
  refused: number;
}

/**
 * HLS objects to S3, off the media path: put() only appends to the on-disk
 * spool and resolves; one uploader sends the spool to the bucket in order,
 * retrying with capped exponential backoff and jitter. During an outage
 * objects wait in the spool (bounded), and they go up in order when S3 is
 * back, also after a restart of the process. The S3 client's own retries
 * are turned off: the spool is the retry loop, so one object's retries
 * never block the caller.
 */
export class S3ObjectStore implements ObjectStore {
  readonly counters: S3UploadCounters = { uploaded: 0, retries: 0, refused: 0 };
  private readonly s3: S3Client;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private wake: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  private readonly loop: Promise<void>;

  private constructor(private readonly options: S3ObjectStoreOptions, readonly spool: UploadSpool) {
    this.s3 = new S3Client({ ...options.client, maxAttempts: 1 });
    this.retryBaseMs = options.retryBaseMs ?? 200;
    this.retryMaxMs = options.retryMaxMs ?? 10_000;
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

  async close(): Promise<void> {
    this.closed = true;
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

  private async send(entry: SpoolEntry): Promise<void> {
    const Key = this.options.prefix + entry.key;
    if (entry.op === 'delete') {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key }));
      return;
    }
    await this.s3.send(new PutObjectCommand({
      Bucket: this.options.bucket,
      Key,
      Body: await this.spool.body(entry),
      ContentType: entry.meta?.contentType,
      CacheControl: entry.meta?.cacheControl,
      Metadata: entry.meta?.metadata,
    }));
  }
}
