/**
 * Fan-out benchmark (not a test): one ~2.5 Mbit/s H.264+AAC stream,
 * published with ffmpeg, watched by a growing crowd of HTTP-FLV and RTMP
 * viewers. The server, the viewers and the publisher are separate
 * processes, so the server's own CPU time and memory are what is measured.
 *
 *   npm run bench:fanout                 # ramp 50, 100, 200, 400 viewers
 *   FANOUT_STEPS=100,1000 FANOUT_SECONDS=30 npm run bench:fanout
 *   npm run bench:fanout -- --write-doc  # also replace the table in docs/benchmarks.md
 *
 * Prints a markdown table: viewers, delivered bit rate, the server's CPU
 * seconds per viewer-minute and RSS per viewer, and packets dropped by
 * backpressure (non-zero means the machine could not keep up).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RtmpClient } from '../services/media/src/rtmp/client.js';
import { silentLogger } from '../services/media/src/logger.js';
import type { RtmpServerLimits } from '../services/media/src/rtmp/rtmp-server.js';
import { startMediaServer } from '../services/media/src/server.js';
import { encodeFile, killAllChildren, startPublisher } from '../test/helpers/ffmpeg.js';
import { machineLine, writeDocSection } from './lib/report.js';
import { MIN_VIEWERS_FOR_PER_VIEWER, perViewerFigure } from './lib/stats.js';

const STREAM = 'bench';
const self = fileURLToPath(import.meta.url);

type Message =
  | { kind: 'ready'; rtmpPort?: number; httpPort?: number }
  | { kind: 'usage'; cpuSeconds: number; rss: number; viewers: number; dropped: number; ingestBits: number }
  | { kind: 'viewers'; open: number; bytes: number; failed: number };

// ---- server process -----------------------------------------------------------

async function runServer(): Promise<void> {
  const server = await startMediaServer({
    host: '127.0.0.1', rtmpPort: 0, httpPort: 0, kcpPort: 0, kcpEnabled: false, auth: 'none', hlsEnabled: false,
    drainSeconds: 0, dataDir: await mkdtemp(path.join(os.tmpdir(), 'fanout-')), logger: silentLogger,
  });
  // Every viewer comes from 127.0.0.1: lift the per-address cap for this run.
  (server.rtmp as { limits: RtmpServerLimits }).limits = { ...server.rtmp.limits, maxConnectionsPerAddress: 100_000 };
  process.on('message', () => {
    const stream = server.hub.get('live', STREAM);
    const subscribers = stream ? [...stream['subscribers']] as { backpressure?: { droppedPackets: number } }[] : [];
    const cpu = process.cpuUsage();
    send({
      kind: 'usage',
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      rss: process.memoryUsage().rss,
      viewers: subscribers.length,
      dropped: subscribers.reduce((n, s) => n + (s.backpressure?.droppedPackets ?? 0), 0),
      ingestBits: (stream?.ingest.total ?? 0) * 8,
    });
  });
  process.on('disconnect', () => void server.close().then(() => process.exit(0)));
  send({ kind: 'ready', rtmpPort: server.rtmpPort, httpPort: server.httpPort });
}

// ---- viewer process -----------------------------------------------------------

async function runViewers(rtmpPort: number, httpPort: number): Promise<void> {
  let bytes = 0;
  let open = 0;
  let failed = 0;
  const count = (d: Buffer) => { bytes += d.length; };

  const flvViewer = () => new Promise<void>((resolve) => {
    http.get({ host: '127.0.0.1', port: httpPort, path: `/live/${STREAM}.flv`, agent: false }, (res) => {
      res.on('data', count);
      open++;
      resolve();
    }).on('error', () => { failed++; resolve(); });
  });

  const rtmpViewer = async () => {
    try {
      const client = await RtmpClient.connectTcp('127.0.0.1', rtmpPort, { app: 'live' });
      await client.play(STREAM);
      // From here on only count bytes: parsing the stream would charge this process, not the server.
      client.connection.transport.removeAllListeners('data');
      client.connection.transport.on('data', count);
      open++;
    } catch {
      failed++;
    }
  };

  // Requests: { add: n } opens n more viewers, { add: 0 } just reports; each gets one reply.
  process.on('message', async (m: { add: number }) => {
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < m.add; i++) jobs.push(i % 2 === 0 ? flvViewer() : rtmpViewer());
    await Promise.all(jobs);
    send({ kind: 'viewers', open, bytes, failed });
  });
  process.on('disconnect', () => process.exit(0));
  send({ kind: 'ready' });
}

function send(m: Message): void {
  process.send?.(m);
}

// ---- driver -------------------------------------------------------------------

function startChild(args: string[]): { child: ChildProcess; next: (kind: Message['kind']) => Promise<Message> } {
  const child = fork(self, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (kind: Message['kind']) => new Promise<Message>((resolve) => {
    const onMessage = (m: Message) => {
      if (m.kind !== kind) return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
  });
  return { child, next };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const steps = (process.env.FANOUT_STEPS ?? '50,100,200,400').split(',').map(Number);
  const windowSeconds = Number(process.env.FANOUT_SECONDS ?? 15);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fanout-media-'));
  const file = path.join(dir, 'stream.flv');
  console.error('encoding a 2.5 Mbit/s test stream...');
  // Noise keeps the encoder at its target rate (a clean test pattern compresses far below it).
  await encodeFile(file, 20, { width: 1280, height: 720, fps: 30, videoKbps: 2400, videoFilter: 'noise=alls=12:allf=t' });

  const server = startChild(['--server']);
  const { rtmpPort, httpPort } = await server.next('ready') as Extract<Message, { kind: 'ready' }>;
  const publisher = startPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/${STREAM}`, { file, loop: true });
  const viewers = startChild(['--viewers', String(rtmpPort), String(httpPort)]);
  await viewers.next('ready');
  await sleep(3000);

  const usage = async () => { server.child.send('usage'); return await server.next('usage') as Extract<Message, { kind: 'usage' }>; };
  const addViewers = async (add: number) => {
    viewers.child.send({ add });
    return await viewers.next('viewers') as Extract<Message, { kind: 'viewers' }>;
  };

  const idle = await usage();
  const rows: string[] = [];
  let total = 0;
  for (const target of steps) {
    await addViewers(target - total);
    total = target;
    await sleep(3000); // let the new viewers' GOP bursts pass
    const before = await usage();
    const bytesBefore = (await addViewers(0)).bytes;
    const started = Date.now();
    await sleep(windowSeconds * 1000);
    const after = await usage();
    const stats = await addViewers(0);

    const seconds = (Date.now() - started) / 1000;
    const cpu = after.cpuSeconds - before.cpuSeconds;
    const viewerMinutes = (after.viewers * seconds) / 60;
    rows.push([
      `${after.viewers} (${stats.open} open, ${stats.failed} failed)`,
      ((after.ingestBits - before.ingestBits) / seconds / 1e6).toFixed(2),
      (((stats.bytes - bytesBefore) * 8) / seconds / 1e6).toFixed(0),
      `${((cpu / seconds) * 100).toFixed(0)}%`,
      // Includes the publisher's fixed cost, spread over the viewers: small steps overstate it.
      perViewerFigure(cpu / viewerMinutes, 4, after.viewers >= MIN_VIEWERS_FOR_PER_VIEWER),
      perViewerFigure((after.rss - idle.rss) / after.viewers / 1024, 0, after.viewers >= MIN_VIEWERS_FOR_PER_VIEWER),
      (after.rss / 2 ** 20).toFixed(0),
      String(after.dropped),
    ].join(' | '));
    console.error(`${target} viewers measured`);
  }

  const command = ['npm run bench:fanout', ...(process.env.FANOUT_STEPS ? [`(FANOUT_STEPS=${process.env.FANOUT_STEPS})`] : []), ...(process.env.FANOUT_SECONDS ? [`(FANOUT_SECONDS=${process.env.FANOUT_SECONDS})`] : [])].join(' ');
  const section = [
    '## Fan-out: one stream, RTMP + HTTP-FLV viewers in another process',
    '',
    `One ~2.5 Mbit/s 720p30 H.264 + AAC stream (pre-encoded with noise, replayed by ffmpeg), half HTTP-FLV half RTMP viewers, ${windowSeconds} s measured per step. CPU s per viewer-minute is the server's CPU over the step divided by viewer-minutes (the publisher's fixed cost included, so small steps overstate it).`,
    '',
    `Machine: ${machineLine()}. Command: \`${command}\``,
    '',
    '| viewers | ingest Mbit/s | delivered Mbit/s | server CPU | CPU s per viewer-minute | RSS KiB per viewer | server RSS MiB | packets dropped |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${row} |`),
  ].join('\n');
  console.log(`\n${section}\n`);
  if (process.argv.includes('--write-doc')) writeDocSection('fanout', section);
  else console.error('(not written to docs/benchmarks.md; add --write-doc to replace the committed numbers)');

  viewers.child.disconnect();
  server.child.disconnect();
  await publisher.stop();
  await killAllChildren();
  await rm(dir, { recursive: true, force: true });
}

const [role, ...rest] = process.argv.slice(2);
if (role === '--server') await runServer();
else if (role === '--viewers') await runViewers(Number(rest[0]), Number(rest[1]));
else await main();
