import { randomBytes } from 'node:crypto';

/** A sortable broadcast id: UTC `YYYYMMDDTHHMMSSZ-xxxx` (4 random hex chars tell apart broadcasts in the same second). */
export function newBroadcastId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}
