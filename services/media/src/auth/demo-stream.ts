import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isWellFormedStreamId, isWellFormedStreamKey } from '../../../../lambdas/stream-keys/src/keys.js';
import type { StreamKeyStore } from '../../../../lambdas/stream-keys/src/store.js';

/**
 * A ready-to-use stream on a fresh install, so `npm start` can print OBS
 * settings that work right away.
 *
 * Trade-off: the table keeps only the key's hash, so the key cannot be
 * shown again on a later start. To keep printing it, the demo key (and only
 * that one) is also kept in plain text in `<DATA_DIR>/demo-stream.json`,
 * readable by the owner only (0600). That file is as sensitive as the key:
 * anyone who can read DATA_DIR can publish as "demo". Rotating or revoking
 * the demo stream through the API makes the file stale, and it is ignored.
 */
export interface DemoStream {
  streamId: string;
  streamKey: string;
  /** True when this start created it. */
  created: boolean;
}

export const DEMO_STREAM_NAME = 'demo';
const DEMO_FILE = 'demo-stream.json';

async function readRememberedDemo(file: string): Promise<{ streamId: string; streamKey: string } | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return undefined; // missing or unreadable: as if there were no demo
  }
  const { streamId, streamKey } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof streamId !== 'string' || typeof streamKey !== 'string') return undefined;
  if (!isWellFormedStreamId(streamId) || !isWellFormedStreamKey(streamKey)) return undefined;
  return { streamId, streamKey };
}

/**
 * Creates the demo stream when the table has no streams at all; returns it
 * (also on later starts while its key still works), or undefined when
 * there is nothing to show: the table had other streams first, or the demo
 * key was rotated or revoked.
 */
export async function ensureDemoStream(store: StreamKeyStore, dataDir: string): Promise<DemoStream | undefined> {
  const file = path.join(dataDir, DEMO_FILE);
  const remembered = await readRememberedDemo(file);
  if (remembered && (await store.resolveKey(remembered.streamKey))?.streamId === remembered.streamId) {
    return { ...remembered, created: false };
  }
  if ((await store.listStreams({ limit: 1 })).items.length > 0) return undefined;
  const { stream, streamKey } = await store.createStream(DEMO_STREAM_NAME);
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, `${JSON.stringify({ streamId: stream.streamId, streamKey })}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // `mode` applies only when the file is new; a stale one may have other bits
  return { streamId: stream.streamId, streamKey, created: true };
}

/** The lines `bridgecast serve` prints for the demo stream. */
export function describeDemoStream(demo: DemoStream, publicHost: string, rtmpPort: number, httpPort: number): string {
  return (
    `  OBS settings for the demo stream (${demo.created ? 'created now' : 'from an earlier start'}):\n` +
    `    Server:      rtmp://${publicHost}:${rtmpPort}/live\n` +
    `    Stream Key:  ${demo.streamKey}\n` +
    `    Watch:       http://${publicHost}:${httpPort}/watch/${demo.streamId}\n` +
    `    HTTP-FLV:    http://${publicHost}:${httpPort}/live/${demo.streamId}.flv  (ffplay, VLC)\n`
  );
}
