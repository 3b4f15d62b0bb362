import { randomBytes } from 'node:crypto';

/** A sortable broadcast id: UTC `YYYYMMDDTHHMMSSZ-xxxx` (4 random hex chars tell apart broadcasts in the same second). */
export function newBroadcastId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/** The UTC start time a broadcast id begins with (`YYYYMMDDTHHMMSSZ`), as ISO 8601; undefined for anything else. */
export function broadcastStartTime(broadcastId: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(broadcastId);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z` : undefined;
}
