/**
 * Where HLS segments and playlists go: the local disk (LocalObjectStore) or
 * S3. Keys are relative ("live/<stream>/index.m3u8",
 * "recordings/<stream>/<broadcast>/<seq>.ts"), the same in both stores.
 */

/** HTTP-facing properties of a stored object (S3 headers, or what the local server sends). */
export interface ObjectMeta { contentType: string; cacheControl: string; metadata?: Record<string, string> }

export interface ObjectStore {
  /** Resolves once the object is durable (on local disk, or in the upload spool); remote uploads proceed in order in the background. */
  put(key: string, body: Buffer, meta: ObjectMeta): Promise<void>;
  /**
   * The object's current body, or null if there is none. Used to continue
   * what another process wrote (the live playlist), not on the media path; in
   * S3 a put still waiting in the spool counts, as it is newer than the bucket's copy.
   */
  get(key: string): Promise<Buffer | null>;
  delete(key: string): Promise<void>;
  /** Waits until every accepted put/delete has reached its destination, or the timeout passes; true when all did. */
  flush(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}
