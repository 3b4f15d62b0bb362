/**
 * Cluster benchmark (not a test): what a viewer costs on the task that owns
 * a stream and on a task that has to pull it from the owner first.
 * Two tasks of the local cluster (scripts/local-cluster.ts); ffmpeg publishes
 * a 1280x720 ~2 Mbit/s file (stream copy, looped) to task 1. Three windows:
 * no viewers; N RTMP viewers on task 1 (the owner); N on task 2 (which pulls
 * from task 1 once and fans out). The tasks' own CPU time (/proc/<pid>/stat)
 * over each window, minus the idle window, divided by N.
 *
 *   npm run bench:cluster                      # N = 50, 15 s windows
 *   CLUSTER_VIEWERS=100 npm run bench:cluster -- --write-doc
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectRtmp } from '@bridgecast/media/relay/transport.js';
import type { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import { startLocalCluster, type ClusterTask } from '../scripts/local-cluster.js';
import { encodeFile, killAllChildren, startPublisher } from '../test/helpers/ffmpeg.js';
import { machineLine, writeDocSection } from './lib/report.js';

const VIEWERS = Number(process.env.CLUSTER_VIEWERS ?? 50);
const WINDOW_S = Number(process.env.CLUSTER_WINDOW_SECONDS ?? 15);
const NAME = 'bench';
const TICKS_PER_S = 100; // USER_HZ on Linux

function cpuSeconds(task: ClusterTask): number {
  const fields = readFileSync(`/proc/${task.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S; // utime, stime
}

async function window(tasks: ClusterTask[]): Promise<number[]> {
  const before = tasks.map(cpuSeconds);
  await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
  return tasks.map((t, i) => (cpuSeconds(t) - before[i]!) / WINDOW_S);
}

async function viewers(port: number): Promise<{ clients: RtmpClient[]; bytes: () => number }> {
  let bytes = 0;
  const clients = await Promise.all(Array.from({ length: VIEWERS }, async () => {
    const c = await connectRtmp(new URL(`rtmp://127.0.0.1:${port}`), 'live');
    c.on('packet', (p) => { bytes += p.payload.length; });
    await c.play(NAME);
    return c;
  }));
  return { clients, bytes: () => bytes };
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-cluster-'));
const file = path.join(dir, 'source.flv');
await encodeFile(file, 20, { width: 1280, height: 720, fps: 30, gopSeconds: 2 });
const cluster = await startLocalCluster({ tasks: 2, env: { MAX_CONNECTIONS_PER_IP: '100000', LOG_LEVEL: 'warn' } });
try {
  const [owner, other] = cluster.tasks as [ClusterTask, ClusterTask];
  startPublisher(`rtmp://127.0.0.1:${owner.rtmpPort}/live/${NAME}`, { file, loop: true });
  await new Promise((r) => setTimeout(r, 4000));
  const idle = await window(cluster.tasks);
  const onOwner = await viewers(owner.rtmpPort);
  const ownerLoad = await window(cluster.tasks);
  const ownerMbit = onOwner.bytes() * 8 / 1e6 / VIEWERS / (WINDOW_S + 1);
  for (const c of onOwner.clients) c.close('window over');
  await new Promise((r) => setTimeout(r, 2000));
  const onOther = await viewers(other.rtmpPort);
  const otherLoad = await window(cluster.tasks);
  for (const c of onOther.clients) c.close('window over');
  const perViewerMs = (load: number, base: number) => ((load - base) / VIEWERS * 1000).toFixed(2);
  const table = [
    `${VIEWERS} RTMP viewers of one 1280x720 stream (${ownerMbit.toFixed(1)} Mbit/s delivered per viewer, the join burst of the GOP cache included), ${WINDOW_S} s windows. ${machineLine()}.`,
    '',
    '| viewers on | task CPU per viewer (ms of CPU per second) | owner task\'s extra CPU for them |',
    '| --- | --- | --- |',
    `| the owner task | ${perViewerMs(ownerLoad[0]!, idle[0]!)} | (the same) |`,
    `| another task (one pull from the owner + fan-out) | ${perViewerMs(otherLoad[1]!, idle[1]!)} | ${((otherLoad[0]! - idle[0]!) * 1000).toFixed(1)} ms/s in all (one pull) |`,
    '',
    `Idle: owner ${(idle[0]! * 1000).toFixed(0)} ms/s (ingest, HLS to S3), other ${(idle[1]! * 1000).toFixed(0)} ms/s.`,
  ].join('\n');
  console.log(table);
  if (process.argv.includes('--write-doc')) writeDocSection('cluster-viewers', `## Viewers on a non-owner task (\`npm run bench:cluster\`)\n\n${table}`);
} finally {
  await killAllChildren();
  await cluster.close();
  await rm(dir, { recursive: true, force: true });
}
