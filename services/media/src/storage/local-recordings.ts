import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RecordingRecord } from '../../../../lambdas/stream-keys/src/store.js';
import { broadcastStartTime } from '../../../../lambdas/recording/src/recording-keys.js';
import type { Logger } from '../logger.js';

/**
 * Recordings in the local HLS tree (DATA_DIR/hls/recordings/<stream>/<broadcast>/).
 * In AWS the recording indexer Lambda lists them in DynamoDB; on a laptop
 * nothing indexes, so `keys recordings` and the retention below read the
 * directory itself. A broadcast is complete once its end.json exists.
 */
export interface LocalRecording extends RecordingRecord {
  streamId: string;
  /** Bytes of every file of the broadcast. */
  bytes: number;
  /** When end.json was written (ms); undefined while recording. */
  endedAtMs?: number;
}

async function dirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

async function readRecording(root: string, streamId: string, broadcastId: string): Promise<LocalRecording> {
  const dir = path.join(root, 'recordings', streamId, broadcastId);
  let bytes = 0;
  for (const file of await readdir(dir).catch(() => [])) bytes += (await stat(path.join(dir, file)).catch(() => null))?.size ?? 0;
  const end = await readFile(path.join(dir, 'end.json'), 'utf8').then((t) => JSON.parse(t) as { segments?: unknown; endedAt?: unknown }, () => null);
  const playlist = await readFile(path.join(dir, 'index.m3u8'), 'utf8').catch(() => '');
  const durations = [...playlist.matchAll(/^#EXTINF:([\d.]+)/gm)].map((m) => Number(m[1]));
  const endedAt = typeof end?.endedAt === 'string' ? end.endedAt : undefined;
  const record: LocalRecording = {
    streamId,
    broadcastId,
    bytes,
    status: end ? 'complete' : 'recording',
    segments: typeof end?.segments === 'number' ? end.segments : durations.length,
    durationSeconds: Math.round(durations.reduce((a, b) => a + b, 0) * 1000) / 1000,
  };
  const startedAt = broadcastStartTime(broadcastId);
  if (startedAt) record.startedAt = startedAt;
  if (endedAt) {
    record.endedAt = endedAt;
    record.endedAtMs = Date.parse(endedAt);
  }
  return record;
}

/** The recordings of one stream (or all), newest first, as the stream-keys API lists them. */
export async function listLocalRecordings(hlsRoot: string, streamId?: string): Promise<LocalRecording[]> {
  const streams = streamId === undefined ? await dirs(path.join(hlsRoot, 'recordings')) : [streamId];
  const all: LocalRecording[] = [];
  for (const s of streams) {
    for (const b of await dirs(path.join(hlsRoot, 'recordings', s))) all.push(await readRecording(hlsRoot, s, b));
  }
  return all.sort((a, b) => (a.broadcastId < b.broadcastId ? 1 : a.broadcastId > b.broadcastId ? -1 : 0));
}

export interface RetentionPolicy {
  /** Total bytes of local recordings above which the oldest ended ones are deleted (0: no bound). */
  maxBytes: number;
  /** Ended recordings older than this many days are deleted (0: no age limit). */
  maxDays: number;
}

/**
 * Which recordings to delete: those ended longer ago than maxDays, then the
 * oldest ended ones until the total fits maxBytes. A broadcast still
 * recording is never chosen (it may be over the bound alone). Pure.
 */
export function recordingsToDelete(recordings: readonly LocalRecording[], policy: RetentionPolicy, nowMs: number): LocalRecording[] {
  const ended = recordings.filter((r) => r.endedAtMs !== undefined).sort((a, b) => a.endedAtMs! - b.endedAtMs!);
  const doomed = new Set<LocalRecording>();
  if (policy.maxDays > 0) for (const r of ended) if (nowMs - r.endedAtMs! > policy.maxDays * 86_400_000) doomed.add(r);
  if (policy.maxBytes > 0) {
    let total = recordings.reduce((sum, r) => sum + (doomed.has(r) ? 0 : r.bytes), 0);
    for (const r of ended) {
      if (total <= policy.maxBytes) break;
      if (doomed.has(r)) continue;
      doomed.add(r);
      total -= r.bytes;
    }
  }
  return ended.filter((r) => doomed.has(r));
}

/**
 * Applies the policy now and then while the server runs (every minute by
 * default) and once at start; each deletion is logged. Returns a stop function.
 */
export function startRecordingRetention(hlsRoot: string, policy: RetentionPolicy, logger: Logger, intervalMs = 60_000): { stop(): void; sweep(): Promise<number> } {
  const log = logger.child({ component: 'recording-retention' });
  let running: Promise<number> | null = null;
  const sweep = (): Promise<number> => {
    running ??= (async () => {
      try {
        const doomed = recordingsToDelete(await listLocalRecordings(hlsRoot), policy, Date.now());
        for (const r of doomed) {
          await rm(path.join(hlsRoot, 'recordings', r.streamId, r.broadcastId), { recursive: true, force: true });
          log.info({ streamId: r.streamId, broadcastId: r.broadcastId, bytes: r.bytes, endedAt: r.endedAt, ...policy }, 'local recording deleted by retention');
        }
        return doomed.length;
      } catch (err) {
        log.error({ err }, 'recording retention sweep failed');
        return 0;
      } finally {
        running = null;
      }
    })();
    return running;
  };
  const disabled = policy.maxBytes === 0 && policy.maxDays === 0;
  const timer = disabled ? null : setInterval(() => void sweep(), intervalMs);
  timer?.unref();
  if (!disabled) void sweep();
  return { stop: () => { if (timer) clearInterval(timer); }, sweep };
}
