/**
 * Draining on SIGTERM (what ECS does before stopping a task): health checks
 * fail at once so the NLB sends no new connections, new publishers are
 * refused with a reason to reconnect elsewhere, the live broadcast may go on
 * for DRAIN_SECONDS, and before the process is done the last HLS segment,
 * the final recording playlist and end.json are written.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { killAllChildren, startPublisher } from '../helpers/ffmpeg.js';
import { sleep, startTestServer, waitForKeyframe } from '../helpers/media-server.js';

after(killAllChildren);

test('close() drains: 503 health, new publishers refused, live broadcast kept, then HLS finished and flushed', async (t) => {
  // Our own data directory: the helper's close() would delete its own before we can look.
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-drain-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startTestServer({ hlsEnabled: true, hlsSegmentSeconds: 1, drainSeconds: 2, dataDir });
  const hlsDir = path.join(dataDir, 'hls');
  startPublisher(server.rtmpUrl('anchor'), { seconds: 30, gopSeconds: 1 });
  await waitForKeyframe(server.hub, 'anchor', 15_000);
  await sleep(1500); // a segment or two in the recording

  const closing = server.close('SIGTERM');
  const health = await fetch(`${server.httpBase}/healthz`);
  assert.equal(health.status, 503);
  assert.equal(((await health.json()) as { status: string }).status, 'draining');

  const latecomer = startPublisher(server.rtmpUrl('late'), { seconds: 5 });
  assert.notEqual((await latecomer.exited).code, 0, 'a new publisher is refused while draining');
  assert.ok(server.hub.get('live', 'anchor'), 'the live broadcast carries on during the drain');

  const started = Date.now();
  await closing;
  assert.ok(Date.now() - started < 10_000, 'close finishes within the drain time plus the flush');

  const broadcasts = await readdir(path.join(hlsDir, 'recordings', 'anchor'));
  assert.equal(broadcasts.length, 1);
  const dir = path.join(hlsDir, 'recordings', 'anchor', broadcasts[0]!);
  const playlist = await readFile(path.join(dir, 'index.m3u8'), 'utf8');
  assert.match(playlist, /#EXT-X-ENDLIST\s*$/);
  const end = JSON.parse(await readFile(path.join(dir, 'end.json'), 'utf8')) as { segments: number };
  const segments = (await readdir(dir)).filter((f) => f.endsWith('.ts'));
  assert.equal(end.segments, segments.length);
  assert.equal(playlist.match(/\.ts$/gm)?.length, segments.length, 'every stored segment is in the final playlist');
});
