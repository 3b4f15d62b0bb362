/**
 * Load benchmark: N publishers replaying a 2.5 Mbit/s H.264+AAC stream and a
 * ramp of viewers against ONE server process, for Bridgecast, node-media-server
 * and nginx-rtmp side by side. Per step it reports CPU seconds per
 * viewer-minute (ingest cost subtracted), RSS per viewer, first-frame time and
 * dropped frames, and stops ramping at the first limit hit.
 *
 *   npm run bench:load -- [--servers bridgecast,nms,nginx] [--protocols rtmp,flv]
 *     [--steps 50,100,200,400] [--step-seconds 15] [--publishers 2] [--write-doc]
 *
 * The result table is printed; --write-doc also writes it into docs/benchmarks.md
 * (only for runs worth keeping: a short run replaces the committed numbers).
 */
import { parseArgs } from 'node:util';
import type { FlvTag } from './lib/flv-reader.js';
import { PacedPublisher } from './lib/paced-publisher.js';
import { processTreeUsage, type ProcUsage } from './lib/proc-stats.js';
import { machineLine, writeDocSection } from './lib/report.js';
import { loadSampleTags, SAMPLE_FPS } from './lib/sample-media.js';
import { startServer, type RunningServer, type ServerKind } from './lib/servers.js';
import { fmt, markdownTable, MIN_VIEWERS_FOR_PER_VIEWER, percentile, perViewerFigure, sleep, slope } from './lib/stats.js';
import { startViewer, type Viewer, type ViewerProtocol } from './lib/viewers.js';

const { values: args } = parseArgs({
  options: {
    servers: { type: 'string', default: 'bridgecast,nms,nginx' },
    protocols: { type: 'string', default: 'rtmp,flv' },
    steps: { type: 'string', default: '50,100,200,400' },
    'step-seconds': { type: 'string', default: '15' },
    publishers: { type: 'string', default: '2' },
    'max-first-frame-ms': { type: 'string', default: '3000' },
    'max-cpu': { type: 'string', default: '0.9', description: 'fraction of one core' },
    'max-drop-ratio': { type: 'string', default: '0.01' },
    'write-doc': { type: 'boolean', default: false },
  },
});

const STEPS = args.steps.split(',').map(Number);
const STEP_SECONDS = Number(args['step-seconds']);
const PUBLISHERS = Number(args.publishers);
const WARMUP_MS = 4000;
const CONNECT_CONCURRENCY = 10;

interface StepResult {
  server: ServerKind;
  protocol: ViewerProtocol;
  viewers: number;
  serverCpu: number; // fraction of one core
  cpuPerViewerMinute: number;
  rssMiB: number;
  rssPerViewerMiB: number;
  firstFrameP50: number;
  firstFrameP95: number;
  droppedFrames: number;
  expectedFrames: number;
  clientCpu: number;
  failedViewers: number;
  limit: string;
}

function cpuFraction(before: ProcUsage, after: ProcUsage, ms: number): number {
  return (after.cpuSeconds - before.cpuSeconds) / (ms / 1000);
}

/** Which limit, if any, a step hit: the ramp stops there. */
export function limitHit(step: Pick<StepResult, 'serverCpu' | 'droppedFrames' | 'expectedFrames' | 'firstFrameP95' | 'failedViewers'>): string {
  if (step.failedViewers > 0) return 'viewers refused';
  if (step.serverCpu > Number(args['max-cpu'])) return 'CPU';
  if (step.droppedFrames > step.expectedFrames * Number(args['max-drop-ratio'])) return 'dropped frames';
  if (step.firstFrameP95 > Number(args['max-first-frame-ms'])) return 'first frame';
  return '';
}

async function connectViewers(server: RunningServer, protocol: ViewerProtocol, count: number, offset: number, into: Viewer[]): Promise<number> {
  let failed = 0;
  const indexes = Array.from({ length: count }, (_, i) => offset + i);
  for (let i = 0; i < indexes.length; i += CONNECT_CONCURRENCY) {
    await Promise.all(indexes.slice(i, i + CONNECT_CONCURRENCY).map(async (index) => {
      try {
        into.push(await startViewer(protocol, {
          host: server.host, rtmpPort: server.rtmpPort, httpPort: server.httpPort, app: 'live', name: `bench${index % PUBLISHERS}`,
        }));
      } catch {
        failed++;
      }
    }));
  }
  return failed;
}

/** A freshly started server may still reset the first connection (node-media-server does): try a few times. */
async function startPublisher(server: RunningServer, name: string, tags: FlvTag[]): Promise<PacedPublisher> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await PacedPublisher.start({ host: server.host, port: server.rtmpPort, app: 'live', name }, tags);
    } catch (err) {
      if (attempt >= 5) throw err;
      console.error(`publisher ${name} on ${server.kind}: ${(err as Error).message}; retrying`);
      await sleep(1000);
    }
  }
}

async function runOne(kind: ServerKind, protocol: ViewerProtocol, tags: FlvTag[]): Promise<StepResult[]> {
  const server = await startServer(kind);
  const publishers: PacedPublisher[] = [];
  const viewers: Viewer[] = [];
  const results: StepResult[] = [];
  try {
    for (let i = 0; i < PUBLISHERS; i++) {
      publishers.push(await startPublisher(server, `bench${i}`, tags));
    }
    await sleep(WARMUP_MS); // a keyframe in every GOP cache, JIT warm
    const idleStart = processTreeUsage(server.pid);
    await sleep(WARMUP_MS);
    const idleEnd = processTreeUsage(server.pid);
    const ingestCpu = cpuFraction(idleStart, idleEnd, WARMUP_MS);
    const baseRss = idleEnd.rssBytes;
    for (const target of STEPS) {
      const joinedFrom = viewers.length;
      const failedViewers = await connectViewers(server, protocol, target - viewers.length, viewers.length, viewers);
      // Servers without a GOP cache (nginx-rtmp) start a viewer at the next keyframe.
      const firstFrameDeadline = Date.now() + Number(args['max-first-frame-ms']) + 2000;
      while (viewers.slice(joinedFrom).some((v) => !v.tracker.firstFrameAt) && Date.now() < firstFrameDeadline) await sleep(100);
      const firstFrames = viewers.slice(joinedFrom).map((v) => v.tracker.firstFrameMs ?? Number.POSITIVE_INFINITY);
      const dropsBefore = viewers.reduce((sum, v) => sum + v.tracker.droppedFrames, 0);
      const usageBefore = processTreeUsage(server.pid);
      const clientBefore = process.cpuUsage();
      const started = Date.now();
      await sleep(STEP_SECONDS * 1000);
      const elapsed = Date.now() - started;
      const usageAfter = processTreeUsage(server.pid);
      const client = process.cpuUsage(clientBefore);
      const serverCpu = cpuFraction(usageBefore, usageAfter, elapsed);
      const step: StepResult = {
        server: kind, protocol, viewers: viewers.length, serverCpu,
        cpuPerViewerMinute: ((serverCpu - ingestCpu) * 60) / Math.max(1, viewers.length),
        rssMiB: usageAfter.rssBytes / 2 ** 20,
        rssPerViewerMiB: (usageAfter.rssBytes - baseRss) / 2 ** 20 / Math.max(1, viewers.length),
        firstFrameP50: percentile(firstFrames, 50),
        firstFrameP95: percentile(firstFrames, 95),
        droppedFrames: viewers.reduce((sum, v) => sum + v.tracker.droppedFrames, 0) - dropsBefore,
        expectedFrames: viewers.length * SAMPLE_FPS * (elapsed / 1000),
        clientCpu: (client.user + client.system) / 1000 / elapsed,
        failedViewers,
        limit: '',
      };
      step.limit = limitHit(step);
      results.push(step);
      console.log(JSON.stringify({ ...step, ingestCpu }));
      if (step.limit) break;
    }
  } finally {
    for (const v of viewers) v.close();
    for (const p of publishers) p.stop();
    await server.stop();
  }
  return results;
}

function renderTable(results: StepResult[]): string {
  return markdownTable(
    ['server', 'viewers', 'server CPU (% of a core)', 'CPU s / viewer-min', 'RSS MiB', 'RSS MiB / viewer', 'first frame p50 / p95 ms', 'dropped frames', 'limit hit'],
    results.map((r) => [
      `${r.server} ${r.protocol === 'rtmp' ? 'RTMP' : 'HTTP-FLV'}`, String(r.viewers), fmt(r.serverCpu * 100),
      perViewerFigure(r.cpuPerViewerMinute, 3, r.viewers >= MIN_VIEWERS_FOR_PER_VIEWER),
      fmt(r.rssMiB, 1), perViewerFigure(r.rssPerViewerMiB, 2, r.viewers >= MIN_VIEWERS_FOR_PER_VIEWER), `${fmt(r.firstFrameP50)} / ${fmt(r.firstFrameP95)}`,
      `${r.droppedFrames} (${fmt((100 * r.droppedFrames) / r.expectedFrames, 2)}%)`,
      r.limit || (r.clientCpu > 0.9 ? 'load generator saturated' : '–'),
    ]),
  );
}

/**
 * CPU s per viewer-minute that one more viewer costs: the slope of server CPU
 * over viewers across the steps without a limit hit. Robust to the fixed
 * costs that the per-step ratio still carries at small viewer counts.
 */
function marginalCpuPerViewerMinute(steps: readonly StepResult[]): number {
  return slope(steps.filter((r) => !r.limit).map((r) => ({ x: r.viewers, y: r.serverCpu }))) * 60;
}

/** Per server and protocol, the cost at the largest step every server reached. */
function renderSummary(results: StepResult[]): string {
  const groups = new Map<string, StepResult[]>();
  for (const r of results) groups.set(`${r.server} ${r.protocol}`, [...(groups.get(`${r.server} ${r.protocol}`) ?? []), r]);
  const reachedByAll = Math.min(...[...groups.values()].map((g) => Math.max(...g.filter((r) => !r.limit).map((r) => r.viewers), 0)));
  const rows = [...groups.entries()].map(([name, g]) => {
    const at = g.find((r) => r.viewers === reachedByAll) ?? g[0]!;
    const ok = g.filter((r) => !r.limit).map((r) => r.viewers);
    return [name.replace(' rtmp', ' RTMP').replace(' flv', ' HTTP-FLV'), ok.length ? String(Math.max(...ok)) : '0', String(at.viewers),
      perViewerFigure(marginalCpuPerViewerMinute(g), 4, g.filter((r) => !r.limit).length >= 3),
      perViewerFigure(at.cpuPerViewerMinute, 3, at.viewers >= MIN_VIEWERS_FOR_PER_VIEWER),
      perViewerFigure(at.rssPerViewerMiB, 2, at.viewers >= MIN_VIEWERS_FOR_PER_VIEWER)];
  });
  return markdownTable(['server', 'most viewers without hitting a limit', 'compared at viewers', 'marginal CPU s / viewer-min (slope over steps)', 'CPU s / viewer-min at that step', 'RSS MiB / viewer'], rows);
}

async function main(): Promise<void> {
  const tags = loadSampleTags();
  const results: StepResult[] = [];
  for (const kind of args.servers.split(',') as ServerKind[]) {
    for (const protocol of args.protocols.split(',') as ViewerProtocol[]) {
      if (kind === 'nginx' && protocol === 'flv') continue; // nginx-rtmp has no HTTP-FLV
      console.error(`# ${kind} / ${protocol}`);
      results.push(...await runOne(kind, protocol, tags));
    }
  }
  const command = `npm run bench:load -- ${process.argv.slice(2).join(' ')}`.trim();
  const section = [
    '## Load: one server process, viewers ramped until a limit',
    '',
    `${PUBLISHERS} publishers × 2.5 Mbit/s H.264 720p30 + AAC (pre-encoded, replayed in real time); viewers split evenly across the streams; each step measured for ${STEP_SECONDS} s after its viewers joined. Marginal CPU s / viewer-min is the least-squares slope of server CPU over viewers across the steps (fixed costs such as timers, GC and ingest fall out); the per-step figure subtracts the ingest-only CPU measured before the first viewer. Limits: server CPU over ${Number(args['max-cpu']) * 100}% of a core, over ${Number(args['max-drop-ratio']) * 100}% frames missing, first-frame p95 over ${args['max-first-frame-ms']} ms, or a viewer refused. Viewers are in-process readers (no decoding) running in the benchmark process, which shares the machine with the server.`,
    '',
    `Machine: ${machineLine()}. Command: \`${command}\``,
    '',
    renderSummary(results),
    '',
    '<details><summary>Every step</summary>',
    '',
    renderTable(results),
    '',
    '</details>',
  ].join('\n');
  console.log(`\n${section}\n`);
  if (args['write-doc']) writeDocSection('load', section);
  else console.error('(not written to docs/benchmarks.md; add --write-doc to replace the committed numbers)');
}

await main();
process.exit(0);
