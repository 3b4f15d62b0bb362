/**
 * Weak-network benchmark: an origin and an edge in two network namespaces
 * joined by an impaired link (see lib/impaired-link.ts), a 2.5 Mbit/s H.264
 * stream published to the origin, and a reader on the edge side recording
 * how late each frame arrives. Per transport and link profile: extra delay
 * percentiles, stalls over 500 ms, and bytes on the wire per payload byte.
 *
 *   sudo npm run bench:weaknet -- [--seconds 60] [--profiles clean,loss5,...]
 *     [--transports rtmp-cubic,rtmp-bbr,kcp,kcp-fec,kcp-paced] [--via direct|relay] [--kcp-via bridge|server]
 *     [--write-doc [--doc-section NAME]]
 *
 * --via direct: the reader in the edge namespace plays from the origin across
 *   the link (the edge's pull leg on its own).
 * --via relay: an edge server in the edge namespace pulls from the origin
 *   (RELAY_ORIGIN=rtmp://… or kcp://…) and the reader plays from the edge.
 * --kcp-via bridge: KCP reaches the origin through a KCP→RTMP bridge process
 *   next to it (KcpServerEndpoint piped to the RTMP port), for as long as the
 *   server does not listen on KCP itself; --kcp-via server uses KCP_PORT.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { groupedBarChart } from './lib/bar-chart.js';
import { analyzeFrames, baselineDelay, STALL_MS, type DelayStats } from './lib/frame-delay.js';
import { canBuildLink, ImpairedLink, nsExec, ORIGIN_IP, type LinkProfile } from './lib/impaired-link.js';
import { machineLine, writeDocSection } from './lib/report.js';
import { ensureSampleFlv } from './lib/sample-media.js';
import { startServer, type RunningServer } from './lib/servers.js';
import { fmt, markdownTable, sleep } from './lib/stats.js';
import type { ReadSummary } from './lib/weaknet-agent.js';

const PROFILES: LinkProfile[] = [
  { name: 'clean', delayMs: 0, lossPercent: 0 },
  { name: 'loss1', delayMs: 50, lossPercent: 1 },
  { name: 'loss5', delayMs: 50, lossPercent: 5 },
  { name: 'loss10', delayMs: 50, lossPercent: 10 },
  { name: 'loss20', delayMs: 50, lossPercent: 20 },
  // Gilbert-Elliott: enter a loss burst with 1% per packet, leave with 20%:
  // bursts of 5 packets on average, ~4.8% of packets lost overall.
  { name: 'burst', delayMs: 50, lossPercent: 0, burst: { enter: 0.01, exit: 0.2 } },
  { name: 'bw4mbit', delayMs: 50, lossPercent: 0, rateKbit: 4000 },
  // Narrow links as at peak hours: a router's 100-packet drop-tail queue in front of the bottleneck.
  { name: 'bw3mbit', delayMs: 50, lossPercent: 0, rateKbit: 3000, queuePackets: 100 },
  { name: 'bw2mbit', delayMs: 50, lossPercent: 0, rateKbit: 2000, queuePackets: 100 },
  { name: 'loss2bw4', delayMs: 50, lossPercent: 2, rateKbit: 4000, queuePackets: 100 },
];

const PROFILE_LABELS: Record<string, string> = {
  clean: 'clean', loss1: '50 ms, 1% loss', loss5: '50 ms, 5% loss', loss10: '50 ms, 10% loss', loss20: '50 ms, 20% loss',
  burst: '50 ms, burst loss (~5%, mean burst 5 pkts)', bw4mbit: '50 ms, 4 Mbit/s bottleneck',
  bw3mbit: '50 ms, 3 Mbit/s bottleneck, 100-pkt queue', bw2mbit: '50 ms, 2 Mbit/s bottleneck (below the stream), 100-pkt queue',
  loss2bw4: '50 ms, 2% loss + 4 Mbit/s bottleneck, 100-pkt queue',
};

interface Transport {
  name: string;
  scheme: 'rtmp' | 'kcp';
  congestionControl?: 'cubic' | 'bbr';
  env: Record<string, string>;
}

const TRANSPORTS: Transport[] = [
  { name: 'rtmp-cubic', scheme: 'rtmp', congestionControl: 'cubic', env: {} },
  { name: 'rtmp-bbr', scheme: 'rtmp', congestionControl: 'bbr', env: {} },
  // Issue 20's congestion controller and live deadline, opt-in (not yet the default: short of their targets).
  { name: 'kcp', scheme: 'kcp', env: { KCP_CC: 'live', KCP_LIVE_DEADLINE_MS: '400' } },
  // Today's defaults: no congestion controller, no live deadline.
  { name: 'kcp-nocc', scheme: 'kcp', env: { KCP_CC: 'none', KCP_LIVE_DEADLINE_MS: '0' } },
  { name: 'kcp-fec', scheme: 'kcp', env: { KCP_FEC: '10,3' } },
  // Paced at 1.4x the 2.5 Mbit/s stream (KCP_MAX_KBIT), as SRT's maxbw is set from the input rate plus overhead.
  { name: 'kcp-paced', scheme: 'kcp', env: { KCP_MAX_KBIT: '3500' } },
];

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    profiles: { type: 'string', default: PROFILES.map((p) => p.name).join(',') },
    transports: { type: 'string', default: TRANSPORTS.map((t) => t.name).join(',') },
    via: { type: 'string', default: 'direct' },
    'kcp-via': { type: 'string', default: 'bridge' },
    'write-doc': { type: 'boolean', default: false },
    'doc-section': { type: 'string', default: 'weaknet' },
  },
});

const SECONDS = Number(args.seconds);
const WARMUP_SECONDS = Number(args.warmup);
const CALIBRATION_SECONDS = 10;
const AGENT = path.resolve('bench/lib/weaknet-agent.ts');

interface Cell {
  transport: string;
  profile: string;
  stats: DelayStats;
  overhead: number;
  baselineMs: number;
  error?: string;
}

function agent(ns: string, agentArgs: string[], env: Record<string, string>) {
  return spawn(nsExec(ns)[0]!, [...nsExec(ns).slice(1), process.execPath, '--import', 'tsx', AGENT, ...agentArgs], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'],
  });
}

function firstLine(child: ReturnType<typeof agent>): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const end = text.indexOf('\n');
      if (end >= 0) resolve(text.slice(0, end));
    });
    child.once('exit', (code) => reject(new Error(`agent exited with ${code} before answering`)));
  });
}

/** One measurement: fresh servers, publisher and reader on the link as currently impaired. */
async function measure(transport: Transport, seconds: number): Promise<{ summary: ReadSummary; startedAt: number; wireBytes: number; readerStart: number }> {
  const started: RunningServer[] = [];
  const helpers: ReturnType<typeof agent>[] = [];
  const link = currentLink!;
  try {
    const origin = await startServer('bridgecast', { host: '0.0.0.0', wrap: nsExec(link.originNs), env: transport.env });
    started.push(origin);
    helpers.push(agent(link.originNs, ['publish', '127.0.0.1', String(origin.rtmpPort), 'weaknet'], {}));
    const { startedAt } = JSON.parse(await firstLine(helpers[0]!)) as { startedAt: number };
    let kcpPort = origin.kcpPort!;
    if (transport.scheme === 'kcp' && args['kcp-via'] === 'bridge') {
      kcpPort = origin.rtmpPort + 1;
      helpers.push(agent(link.originNs, ['kcp-bridge', String(kcpPort), String(origin.rtmpPort)], transport.env));
      if (await firstLine(helpers.at(-1)!) !== 'ready') throw new Error('KCP bridge failed');
    }
    await sleep(2500); // a keyframe in the origin's GOP cache
    const originPort = transport.scheme === 'kcp' ? kcpPort : origin.rtmpPort;
    let readArgs = [transport.scheme, ORIGIN_IP, String(originPort)];
    if (args.via === 'relay') {
      const relayUrl = `${transport.scheme}://${ORIGIN_IP}:${originPort}`;
      const edge = await startServer('bridgecast', { host: '127.0.0.1', wrap: nsExec(link.edgeNs), env: { ...transport.env, RELAY_ORIGIN: relayUrl } });
      started.push(edge);
      readArgs = ['rtmp', '127.0.0.1', String(edge.rtmpPort)];
    }
    const wireBefore = link.wireBytes();
    const readerStart = Date.now();
    const reader = agent(link.edgeNs, ['read', ...readArgs, 'weaknet', String(seconds + WARMUP_SECONDS)], transport.env);
    const summary = JSON.parse(await firstLine(reader)) as ReadSummary;
    return { summary, startedAt, wireBytes: link.wireBytes() - wireBefore, readerStart };
  } finally {
    for (const child of helpers) child.kill('SIGKILL');
    for (const server of started.reverse()) await server.stop();
  }
}

let currentLink: ImpairedLink | null = null;

async function runCell(transport: Transport, profile: LinkProfile, seconds: number, baselineMs: number | null): Promise<Cell & { rawBaseline: number }> {
  await currentLink!.apply(profile);
  if (transport.congestionControl) currentLink!.setCongestionControl(transport.congestionControl);
  const { summary, startedAt, wireBytes, readerStart } = await measure(transport, seconds);
  const windowStart = readerStart + WARMUP_SECONDS * 1000;
  const measured = summary.frames.filter(([, a]) => a >= windowStart);
  const rawBaseline = baselineDelay(measured, startedAt);
  const baseline = baselineMs ?? rawBaseline;
  const stats = analyzeFrames(summary.frames, startedAt, baseline, windowStart, windowStart + seconds * 1000);
  const cell = {
    transport: transport.name, profile: profile.name, stats, baselineMs: baseline, rawBaseline,
    overhead: wireBytes / Math.max(1, summary.payloadBytes), error: summary.error,
  };
  console.log(JSON.stringify({ ...cell, stats }));
  return cell;
}

function renderTable(cells: Cell[]): string {
  return markdownTable(
    ['link', 'transport', 'extra delay p50 / p95 / p99 / max ms', `stalls > ${STALL_MS} ms (count, total s)`, 'wire bytes / payload byte', 'frames'],
    cells.map((c) => [
      PROFILE_LABELS[c.profile] ?? c.profile, c.transport,
      `${fmt(c.stats.p50)} / ${fmt(c.stats.p95)} / ${fmt(c.stats.p99)} / ${fmt(c.stats.max)}`,
      `${c.stats.stalls}, ${fmt(c.stats.stallMs / 1000, 1)}`, fmt(c.overhead, 2),
      c.error ? `${c.stats.frames} (${c.error})` : String(c.stats.frames),
    ]),
  );
}

async function main(): Promise<void> {
  const problem = canBuildLink();
  if (problem) throw new Error(`bench:weaknet ${problem}`);
  ensureSampleFlv(); // before any namespace: the agents only read it
  const profiles = args.profiles.split(',').map((n) => PROFILES.find((p) => p.name === n) ?? fail(`unknown profile ${n}`));
  const transports = args.transports.split(',').map((n) => TRANSPORTS.find((t) => t.name === n) ?? fail(`unknown transport ${n}`));
  currentLink = await ImpairedLink.create();
  const cells: Cell[] = [];
  try {
    for (const transport of transports) {
      // Extra delay is measured against this transport's clean-link delay.
      let baseline: number | null = null;
      if (profiles[0]!.name !== 'clean') {
        baseline = (await runCell(transport, PROFILES[0]!, CALIBRATION_SECONDS, null)).rawBaseline;
      }
      for (const profile of profiles) {
        const cell = await runCell(transport, profile, SECONDS, baseline);
        if (profile.name === 'clean') baseline = cell.rawBaseline;
        cells.push(cell);
      }
    }
  } finally {
    currentLink.destroy();
  }
  cells.sort((a, b) => profiles.findIndex((p) => p.name === a.profile) - profiles.findIndex((p) => p.name === b.profile));
  const svg = groupedBarChart(`p99 extra delay per link profile (${SECONDS} s per cell)`, 'ms', transports.map((t) => t.name),
    profiles.map((p) => ({ label: p.name, values: transports.map((t) => cells.find((c) => c.profile === p.name && c.transport === t.name)?.stats.p99 ?? Number.NaN) })), 1000);
  const command = `sudo npm run bench:weaknet -- ${process.argv.slice(2).join(' ')}`.trim();
  const section = [
    '## Weak network: origin → edge over an impaired link',
    '',
    `One 2.5 Mbit/s H.264 720p30 + AAC stream published to the origin; ${args.via === 'relay' ? 'the edge server pulls it over the transport and a reader plays it from the edge' : 'a reader in the edge namespace plays it from the origin over the transport (the edge pull leg on its own)'}. ${SECONDS} s per cell after a ${WARMUP_SECONDS} s warm-up. Extra delay = arrival − (publish start + frame timestamp) − the same transport's median on the clean link, so the 50 ms one-way delay counts as extra. Loss applies to both directions. TCP congestion control is set per route (\`ip route … congctl\`).`,
    '',
    `Machine: ${machineLine()}. Command: \`${command}\``,
    '',
    renderTable(cells),
    '',
    `![p99 extra delay](${args['doc-section']}-p99.svg)`,
  ].join('\n');
  console.log(`\n${section}\n`);
  if (!args['write-doc']) console.error('(not written to docs/benchmarks.md; add --write-doc to replace the committed numbers)');
  else {
    writeFileSync(`docs/${args['doc-section']}-p99.svg`, svg);
    writeDocSection(args['doc-section'], section);
  }
}

function fail(message: string): never {
  throw new Error(message);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    currentLink?.destroy();
    ImpairedLink.removeLeftovers();
    process.exit(130);
  });
}

await main();
process.exit(0);
