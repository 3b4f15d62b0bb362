import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectMeta, ObjectStore } from './object-store.js';

/**
 * Objects as files under `rootDir` (DATA_DIR/hls in local mode). Writes go to
 * a temp file in the same directory and are renamed into place, so a reader
 * (the HTTP server, a player polling the playlist) never sees half a file.
 * The metadata is not stored: the local HTTP server derives content type and
 * cache headers from the file name.
 */
export class LocalObjectStore implements ObjectStore {
  constructor(readonly rootDir: string) {}

  /** The file for `key`; throws for keys that could leave rootDir or name a directory. */
  pathFor(key: string): string {
    const parts = key.split('/');
    if (key.length === 0 || key.length > 1024 || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\') || p.includes('\0'))) {
      throw new Error(`invalid object key ${JSON.stringify(key)}`);
    }
    return path.join(this.rootDir, ...parts);
  }

  async put(key: string, body: Buffer, _meta: ObjectMeta): Promise<void> {
    const file = this.pathFor(key);
    await mkdir(path.dirname(file), { recursive: true });
    const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temp, body);
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.pathFor(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathFor(key), { force: true });
  }

  /** Every put/delete is complete when its promise resolves: nothing is pending here. */
  async flush(_timeoutMs: number): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}
}
