import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectMeta } from './object-store.js';

/** One queued change to the bucket: an object to put, or a key to delete. */
export interface SpoolEntry {
  readonly seq: number;
  readonly key: string;
  readonly op: 'put' | 'delete';
  readonly meta?: ObjectMeta;
  readonly bytes: number;
}

/** Thrown by add() when an object cannot be kept: the spool is full even after dropping replaceable entries. */
export class SpoolFullError extends Error {}

const SEQ_DIGITS = 12;
const FAILED_DIR = 'failed';
/** What an entry kept in failed/ counts against its bound besides its body: the .json beside it (deletes have no body). */
const FAILED_ENTRY_OVERHEAD = 1024;

/**
 * What an entry already in failed/ counts against its bound. One that cannot
 * be read or parsed (an operator's edit, a crash) counts its overhead only:
 * it must neither stop the spool from opening nor be deleted.
 */
async function failedEntryCost(file: string): Promise<number> {
  try {
    const entry = JSON.parse(await readFile(file, 'utf8')) as Partial<SpoolEntry>;
    return (typeof entry.bytes === 'number' ? entry.bytes : 0) + FAILED_ENTRY_OVERHEAD;
  } catch {
    return FAILED_ENTRY_OVERHEAD;
  }
}

/** Where moveAside() put an entry: into failed/, or nowhere because failed/ was full. */
export type MovedAside = 'kept' | 'discarded';

/**
 * A FIFO of pending uploads on local disk, so that what the media service
 * has written survives an S3 outage and a restart. Each entry is two files
 * named by a sequence number: `<seq>.body` then `<seq>.json` (written last,
 * by rename, so a crash never leaves a half entry that looks complete).
 * Order is the sequence order, across restarts.
 *
 * Bounded by `maxBytes`. Playlists are replaceable: a newer playlist for the
 * same key replaces a pending one, and when the spool is full pending
 * playlists are dropped first. Segments and end markers are never replaced;
 * if one does not fit, add() throws and the caller counts and logs it.
 * add() runs one call at a time: the size check, the sequence number and the
 * place in the queue are decided together, so concurrent adds from several
 * streams can neither overrun the bound nor enter the queue out of order.
 *
 * An entry the bucket refuses for good is moved aside to `failed/` (kept for
 * an operator, out of the queue) so it cannot block the rest. failed/ has a
 * bound of its own, `maxBytes` again: a misconfigured bucket refuses
 * everything, and keeping it all would fill the task's disk. Past the bound
 * the first refusals stay (they show what went wrong) and later ones are
 * deleted; the caller counts and logs both.
 */
export class UploadSpool {
  private readonly entries: SpoolEntry[] = [];
  private nextSeq = 1;
  private totalBytes = 0;
  /** What failed/ holds, against the same bound (see FAILED_ENTRY_OVERHEAD). */
  private failedBytes = 0;
  /** The entry being uploaded: never replaced or dropped under the uploader's feet. */
  private busySeq = 0;
  private adding: Promise<void> = Promise.resolve();
  droppedPlaylists = 0;

  private constructor(readonly dir: string, readonly maxBytes: number) {}

  /** Opens the spool, picking up entries a previous process left behind. */
  static async open(dir: string, maxBytes: number): Promise<UploadSpool> {
    await mkdir(path.join(dir, FAILED_DIR), { recursive: true });
    const spool = new UploadSpool(dir, maxBytes);
    const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
    for (const name of names) {
      try {
        const entry = JSON.parse(await readFile(path.join(dir, name), 'utf8')) as SpoolEntry;
        spool.entries.push(entry);
        spool.totalBytes += entry.bytes;
        spool.nextSeq = Math.max(spool.nextSeq, entry.seq + 1);
      } catch {
        await rm(path.join(dir, name), { force: true }); // unreadable: a leftover of a crash mid-write
      }
    }
    for (const name of await readdir(path.join(dir, FAILED_DIR))) {
      if (name.endsWith('.json')) spool.failedBytes += await failedEntryCost(path.join(dir, FAILED_DIR, name));
    }
    return spool;
  }

  get length(): number { return this.entries.length; }
  get bytes(): number { return this.totalBytes; }

  /** The oldest entry, marked busy until done() or released. */
  head(): SpoolEntry | undefined {
    const entry = this.entries[0];
    this.busySeq = entry?.seq ?? 0;
    return entry;
  }

  async body(entry: SpoolEntry): Promise<Buffer> {
    return entry.op === 'put' ? readFile(this.file(entry.seq, 'body')) : Buffer.alloc(0);
  }

  /** The newest pending entry for `key`, if any. */
  newest(key: string): SpoolEntry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.key === key) return this.entries[i];
    return undefined;
  }

  add(key: string, op: 'put' | 'delete', body: Buffer, meta?: ObjectMeta): Promise<void> {
    const added = this.adding.then(() => this.addNow(key, op, body, meta));
    this.adding = added.catch(() => {});
    return added;
  }

  private async addNow(key: string, op: 'put' | 'delete', body: Buffer, meta?: ObjectMeta): Promise<void> {
    if (isReplaceable(key)) await this.removeWhere((e) => e.key === key && e.seq !== this.busySeq);
    if (this.totalBytes + body.length > this.maxBytes) {
      const before = this.entries.length;
      await this.removeWhere((e) => isReplaceable(e.key) && e.seq !== this.busySeq);
      this.droppedPlaylists += before - this.entries.length;
    }
    if (this.totalBytes + body.length > this.maxBytes) {
      throw new SpoolFullError(`upload spool full (${this.totalBytes} of ${this.maxBytes} bytes): cannot keep ${key}`);
    }
    const entry: SpoolEntry = { seq: this.nextSeq++, key, op, meta, bytes: body.length };
    if (op === 'put') await writeFile(this.file(entry.seq, 'body'), body);
    const temp = `${this.file(entry.seq, 'json')}.tmp`;
    await writeFile(temp, JSON.stringify(entry));
    await rename(temp, this.file(entry.seq, 'json'));
    this.entries.push(entry);
    this.totalBytes += entry.bytes;
  }

  /** Removes the head entry once it reached the bucket. */
  async done(entry: SpoolEntry): Promise<void> {
    this.busySeq = 0;
    const index = this.entries.indexOf(entry);
    if (index >= 0) await this.remove(index);
  }

  /**
   * Takes the head entry out of the queue into failed/ (what is left of it:
   * its body may be gone), or deletes it if failed/ is full. The body goes
   * first: until the .json follows, the entry is still queued, also for a
   * process that starts after a crash here.
   */
  async moveAside(entry: SpoolEntry): Promise<MovedAside> {
    const cost = entry.bytes + FAILED_ENTRY_OVERHEAD;
    const outcome: MovedAside = this.failedBytes + cost <= this.maxBytes ? 'kept' : 'discarded';
    for (const kind of ['body', 'json'] as const) {
      const from = this.file(entry.seq, kind);
      if (outcome === 'discarded') await rm(from, { force: true });
      else {
        await rename(from, path.join(this.dir, FAILED_DIR, path.basename(from))).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
    }
    if (outcome === 'kept') this.failedBytes += cost;
    this.busySeq = 0;
    const index = this.entries.indexOf(entry);
    if (index >= 0) {
      this.entries.splice(index, 1);
      this.totalBytes -= entry.bytes;
    }
    return outcome;
  }

  /**
   * Removes the matching entries, found by identity each time: while one
   * removal awaits the disk, the uploader may finish (done) or set aside
   * (moveAside) another entry, so indexes taken before the await go stale
   * (they used to, and a playlist put failed with a TypeError).
   */
  private async removeWhere(predicate: (e: SpoolEntry) => boolean): Promise<void> {
    for (const entry of this.entries.filter(predicate)) {
      const index = this.entries.indexOf(entry);
      if (index >= 0) await this.remove(index);
    }
  }

  private async remove(index: number): Promise<void> {
    const [entry] = this.entries.splice(index, 1);
    this.totalBytes -= entry!.bytes;
    await rm(this.file(entry!.seq, 'json'), { force: true });
    await rm(this.file(entry!.seq, 'body'), { force: true });
  }

  private file(seq: number, kind: 'json' | 'body'): string {
    return path.join(this.dir, `${String(seq).padStart(SEQ_DIGITS, '0')}.${kind}`);
  }
}

/** Only the newest version of a playlist matters; segments and end.json must all arrive. */
function isReplaceable(key: string): boolean {
  return key.endsWith('.m3u8');
}
