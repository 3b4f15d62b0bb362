/**
 * Local recordings retention: the choice of what to delete (pure), and the
 * sweep on a real directory tree as the HLS writer lays it out, while a
 * broadcast is still recording. Enforced while running: the server sweeps
 * every minute (startRecordingRetention's interval).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../services/media/src/logger.js';
import { listLocalRecordings, recordingsToDelete, startRecordingRetention, type LocalRecording } from '../../services/media/src/storage/local-recordings.js';

const DAY = 86_400_000;
const rec = (broadcastId: string, bytes: number, endedDaysAgo?: number): LocalRecording => ({
  streamId: 's', broadcastId, bytes, ...(endedDaysAgo === undefined ? {} : { endedAtMs: Date.UTC(2026, 11, 6) - endedDaysAgo * DAY }),
});
const ids = (list: LocalRecording[]) => list.map((r) => r.broadcastId);

describe('recording retention', () => {
  it('deletes the oldest ended recordings until the bytes fit, and those past the age; never one still recording', () => {
    const now = Date.UTC(2026, 11, 6);
    const all = [rec('a', 400, 10), rec('b', 300, 5), rec('c', 200, 1), rec('live', 500)];
    assert.deepEqual(ids(recordingsToDelete(all, { maxBytes: 900, maxDays: 0 }, now)), ['a', 'b'], '1400 → 700 bytes');
    assert.deepEqual(ids(recordingsToDelete(all, { maxBytes: 0, maxDays: 7 }, now)), ['a']);
    assert.deepEqual(ids(recordingsToDelete(all, { maxBytes: 100, maxDays: 0 }, now)), ['a', 'b', 'c'], 'the live one stays even over the bound');
    assert.deepEqual(ids(recordingsToDelete(all, { maxBytes: 0, maxDays: 0 }, now)), []);
  });

  it('sweeps the HLS directory: ended broadcasts (end.json) oldest first, the recording one kept', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-retention-'));
    try {
      const write = async (broadcastId: string, bytes: number, endedAt?: string) => {
        const dir = path.join(root, 'recordings', 'st_x', broadcastId);
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, '0.ts'), Buffer.alloc(bytes));
        await writeFile(path.join(dir, 'index.m3u8'), '#EXTM3U\n#EXTINF:2.000,\n0.ts\n');
        if (endedAt) await writeFile(path.join(dir, 'end.json'), JSON.stringify({ segments: 1, endedAt }));
      };
      await write('20261201T000000Z-aaaa', 50_000, '2026-12-01T00:10:00Z');
      await write('20261202T000000Z-bbbb', 50_000, '2026-12-02T00:10:00Z');
      await write('20261206T000000Z-cccc', 50_000);
      const listed = await listLocalRecordings(root, 'st_x');
      assert.deepEqual(listed.map((r) => [r.broadcastId.slice(-4), r.status, r.durationSeconds]), [['cccc', 'recording', 2], ['bbbb', 'complete', 2], ['aaaa', 'complete', 2]]);
      const retention = startRecordingRetention(root, { maxBytes: 120_000, maxDays: 0 }, silentLogger, 3_600_000);
      await retention.sweep();
      retention.stop();
      assert.equal(existsSync(path.join(root, 'recordings/st_x/20261201T000000Z-aaaa')), false, 'the oldest went');
      assert.equal(existsSync(path.join(root, 'recordings/st_x/20261202T000000Z-bbbb')), true);
      assert.equal(existsSync(path.join(root, 'recordings/st_x/20261206T000000Z-cccc')), true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
