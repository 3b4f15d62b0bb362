/**
 * Weak-network benchmark: an origin and an edge in two network namespaces
 * joined by an impaired link (see lib/impaired-link.ts), a 2.5 Mbit/s H.264
 * stream published to the origin, and a reader on the edge side recording
 * how late each frame arrives. Per transport and link profile: extra delay
 * percentiles (the p99 of each 10 s in turn, and the trend: the slope of
 * every frame's delay over the run), frames delivered
 * and decodable of those sent, stalls over 500 ms, the longest gap between
 * arrivals, and bytes on the wire per media byte.
 *
 *   sudo npm run bench:weaknet -- [--seconds 60] [--profiles clean,loss5,...]
 *     [--transports rtmp-cubic,rtmp-bbr,kcp,kcp-nocc,kcp-fec,kcp-paced,srt,ikcp] [--via direct|relay] [--kcp-via bridge|server]
 *     [--repeat N] [--write-doc [--doc-section NAME]] [--frames-out FILE]
 *
 * --repeat N runs every cell N times, in rounds (each round runs every
 * transport on every profile, so a drift of the machine's load falls on all
 * of them alike), and reports per cell the median p99 with its range and
 * each 10 s window's p99 averaged over the runs (see summarizeRepeats); the
 * runs themselves follow in a table of their own.
 *
 * Transports through our server (rtmp-*, kcp*):
 * --via direct: the reader in the edge namespace plays from the origin across
 *   the link (the edge's pull leg on its own).
 * --via relay: an edge server in the edge namespace pulls from the origin
 *   (RELAY_ORIGIN=rtmp://… or kcp://…) and the reader is an HTTP-FLV viewer
 *   of the edge.
 * The peers run end to end across the same link, without our server (see
 * lib/weaknet-agent.ts): `srt` is srt-live-transmit in live mode with a
 * latency of 4× the link's RTT (at least 20 ms), carrying the sample's
 * MPEG-TS remux; `ikcp` is the reference ikcp.c (node-kcp) with nodelay
 * 1,10,2 and nc=1 carrying its FLV bytes.
 * --kcp-via bridge: KCP reaches the origin through a KCP→RTMP bridge process
 *   next to it (KcpServerEndpoint piped to the RTMP port), for as long as the
 *   server does not listen on KCP itself; --kcp-via server uses KCP_PORT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { groupedBarChart } from './lib/bar-chart.js';
import { childLines } from './lib/child-lines.js';
import { analyzeFrames, baselineDelay, countDelivery, extraDelayMs, GROWTH_WINDOW_MS, STALL_MS, summarizeRepeats, WEAKNET_SAMPLE_SECONDS, type DelayStats, type Delivery, type RepeatSummary } from './lib/frame-delay.js';
import { canBuildLink, EDGE_IP, ImpairedLink, nsExec, ORIGIN_IP, type LinkProfile } from './lib/impaired-link.js';
import { machineLine, writeDocSection } from './lib/report.js';
import { scheduledFrames, videoSchedule } from './lib/paced-publisher.js';
import { ensureSampleFlv, loadSampleTags } from './lib/sample-media.js';
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
  /** Through our server over RTMP or KCP, or a peer end to end. */
  scheme: 'rtmp' | 'kcp' | 'srt' | 'ikcp';
  congestionControl?: 'cubic' | 'bbr';
  env: Record<string, string>;
}

const TRANSPORTS: Transport[] = [
  { name: 'srt', scheme: 'srt', env: {} },
  { name: 'ikcp', scheme: 'ikcp', env: {} },
  { name: 'rtmp-cubic', scheme: 'rtmp', congestionControl: 'cubic', env: {} },
  { name: 'rtmp-bbr', scheme: 'rtmp', congestionControl: 'bbr', env: {} },
  // The defaults: issue 20's congestion controller (KCP_CC=live) and live deadline (KCP_LIVE_DEADLINE_MS=600).
  { name: 'kcp', scheme: 'kcp', env: {} },
  // The previous defaults: no congestion controller, no live deadline.
  { name: 'kcp-nocc', scheme: 'kcp', env: { KCP_CC: 'none', KCP_LIVE_DEADLINE_MS: '0' } },
  { name: 'kcp-fec', scheme: 'kcp', env: { KCP_FEC: '10,3' } },
  // Paced at 1.4x the 2.5 Mbit/s stream (KCP_MAX_KBIT), as SRT's maxbw is set from the input rate plus overhead.
  { name: 'kcp-paced', scheme: 'kcp', env: { KCP_MAX_KBIT: '3500' } },
];

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '8' },
    profiles: { type: 'string', default: PROFILES.map((p) => p.name).join(',') },
    transports: { type: 'string', default: TRANSPORTS.map((t) => t.name).join(',') },
    via: { type: 'string', default: 'direct' },
    'kcp-via': { type: 'string', default: 'bridge' },
    'write-doc': { type: 'boolean', default: false },
    'doc-section': { type: 'string', default: 'weaknet' },
    repeat: { type: 'string', default: '1' },
    // Per-frame delays of every cell as JSON lines, for looking into a distribution the table sums up.
    'frames-out': { type: 'string' },
  },
});

const SECONDS = Number(args.seconds);
const REPEAT = Number(args.repeat);
/** What the issue asks per cell; shorter runs are marked as such in the report. */
const FULL_CELL_SECONDS = 60;
/** A frame counts as delivered if it arrived whole by the window's end; frames sent in its last DELIVERY_GRACE_MS are not counted. */
const DELIVERY_GRACE_MS = 2000;
/** UDP ports of the peers' readers, one per peer, inside this run's namespaces. */
const PEER_PORTS = { srt: 9000, ikcp: 9100 } as const;
/** SRT's receiver latency: 4× the RTT, SRT's own advice for lossy links; a floor for the clean calibration link. */
const srtLatencyMs = (profile: LinkProfile) => Math.max(20, 4 * 2 * profile.delayMs);
const WARMUP_SECONDS = Number(args.warmup);
const CALIBRATION_SECONDS = 10;
const AGENT = path.resolve('bench/lib/weaknet-agent.ts');

interface Cell {
  transport: string;
  /** Which of the --repeat runs, from 1. */
  run: number;
  profile: string;
  stats: DelayStats;
  delivery: Delivery;
  overhead: number;
  baselineMs: number;
  error?: string;
}

function agent(ns: string, agentArgs: string[], env: Record<string, string>): ChildProcess {
  return spawn(nsExec(ns)[0]!, [...nsExec(ns).slice(1), process.execPath, '--import', 'tsx', AGENT, ...agentArgs], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** SIGTERM first: an agent then kills what it started (srt-live-transmit, ffmpeg), which would otherwise outlive it. */
async function stopAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(2000)]);
  child.kill('SIGKILL');
}

interface Measurement {
  summary: ReadSummary;
  startedAt: number;
  wireBytes: number;
  readerStart: number;
}

/** One measurement: fresh servers (or peers), publisher and reader on the link as currently impaired. */
async function measure(transport: Transport, profile: LinkProfile, seconds: number): Promise<Measurement> {
  const link = currentLink!;
  const helpers: ChildProcess[] = [];
  const started: RunningServer[] = [];
  try {
    if (transport.scheme === 'srt' || transport.scheme === 'ikcp') {
      const latency = String(srtLatencyMs(profile));
      const port = String(PEER_PORTS[transport.scheme]);
      const [readArgs, sendArgs] = transport.scheme === 'srt'
        ? [['read-srt', port, latency], ['send-srt', EDGE_IP, port, latency]]
        : [['read-ikcp', port], ['send-ikcp', EDGE_IP, port]];
      const reader = agent(link.names.edgeNs, [...readArgs, String(seconds + WARMUP_SECONDS)], {});
      helpers.push(reader);
      const readerLines = childLines(reader, `${transport.name} reader`);
      if (await readerLines.next() !== 'ready') throw new Error(`${transport.name} reader failed`);
      const wireBefore = link.wireBytes();
      const readerStart = Date.now();
      helpers.push(agent(link.names.originNs, sendArgs, {}));
      const { startedAt } = JSON.parse(await childLines(helpers.at(-1)!, `${transport.name} sender`).next()) as { startedAt: number };
      const summary = JSON.parse(await readerLines.next()) as ReadSummary;
      return { summary, startedAt, wireBytes: link.wireBytes() - wireBefore, readerStart };
    }
    const origin = await startServer('bridgecast', { host: '0.0.0.0', wrap: nsExec(link.names.originNs), env: transport.env });
    started.push(origin);
    helpers.push(agent(link.names.originNs, ['publish', '127.0.0.1', String(origin.rtmpPort), 'weaknet'], {}));
    const { startedAt } = JSON.parse(await childLines(helpers[0]!, 'publisher').next()) as { startedAt: number };
    let kcpPort = origin.kcpPort!;
    if (transport.scheme === 'kcp' && args['kcp-via'] === 'bridge') {
      kcpPort = origin.rtmpPort + 1;
      helpers.push(agent(link.names.originNs, ['kcp-bridge', String(kcpPort), String(origin.rtmpPort)], transport.env));
      if (await childLines(helpers.at(-1)!, 'KCP bridge').next() !== 'ready') throw new Error('KCP bridge failed');
    }
    await sleep(2500); // a keyframe in the origin's GOP cache
    const originPort = transport.scheme === 'kcp' ? kcpPort : origin.rtmpPort;
    let readArgs = [transport.scheme, ORIGIN_IP, String(originPort)];
    if (args.via === 'relay') {
      const relayUrl = `${transport.scheme}://${ORIGIN_IP}:${originPort}`;
      const edge = await startServer('bridgecast', { host: '127.0.0.1', wrap: nsExec(link.names.edgeNs), env: { ...transport.env, RELAY_ORIGIN: relayUrl } });
      started.push(edge);
      readArgs = ['flv', '127.0.0.1', String(edge.httpPort)];
    }
    const wireBefore = link.wireBytes();
    const readerStart = Date.now();
    const reader = agent(link.names.edgeNs, ['read', ...readArgs, 'weaknet', String(seconds + WARMUP_SECONDS)], transport.env);
    const summary = JSON.parse(await childLines(reader, 'reader').next()) as ReadSummary;
    // A reader that got nothing: what the servers said about it, for the log (not the table).
    if (summary.error) for (const server of started) console.error(`${transport.name} ${profile.name}: ${server === started[0] ? 'origin' : 'edge'} log:\n${server.logTail()}`);
    return { summary, startedAt, wireBytes: link.wireBytes() - wireBefore, readerStart };
  } finally {
    await Promise.all(helpers.map(stopAgent));
    for (const server of started.reverse()) await server.stop();
  }
}

let currentLink: ImpairedLink | null = null;
const SCHEDULE = videoSchedule(loadSampleTags(WEAKNET_SAMPLE_SECONDS));

async function runCell(transport: Transport, profile: LinkProfile, seconds: number, baselineMs: number | null, run: number): Promise<Cell & { rawBaseline: number }> {
  await currentLink!.apply(profile);
  if (transport.congestionControl) currentLink!.setCongestionControl(transport.congestionControl);
  const { summary, startedAt, wireBytes, readerStart } = await measure(transport, profile, seconds);
  const windowStart = readerStart + WARMUP_SECONDS * 1000;
  const windowEnd = windowStart + seconds * 1000;
  const measured = summary.frames.filter(([, a]) => a >= windowStart);
  const rawBaseline = baselineDelay(measured, startedAt);
  const baseline = baselineMs ?? rawBaseline;
  const stats = analyzeFrames(summary.frames, startedAt, baseline, windowStart, windowEnd);
  // Sent: the frames due from DELIVERY_GRACE_MS before the window to as long before its end.
  const [from, to] = [windowStart - startedAt - DELIVERY_GRACE_MS, windowEnd - startedAt - DELIVERY_GRACE_MS];
  const keyframeBefore = scheduledFrames(SCHEDULE, from - SCHEDULE.loopMs, from).filter((f) => f.key).at(-1)?.timestamp;
  const delivery = countDelivery(scheduledFrames(SCHEDULE, from, to), new Set(summary.frames.map(([timestamp]) => timestamp)), keyframeBefore);
  const cell = {
    transport: transport.name, run, profile: profile.name, stats, delivery, baselineMs: baseline, rawBaseline,
    overhead: wireBytes / Math.max(1, summary.payloadBytes), error: summary.error,
  };
  console.log(JSON.stringify({ ...cell, incomplete: summary.incomplete }));
  if (args['frames-out']) {
    // [timestamp, arrival since the window's start, extra delay] per video frame, in arrival order.
    const frames = summary.frames.map(([timestamp, arrivedAt]) => [timestamp, arrivedAt - windowStart, extraDelayMs(timestamp, arrivedAt, startedAt, baseline)]);
    appendFileSync(args['frames-out'], `${JSON.stringify({ transport: transport.name, profile: profile.name, run, seconds, frames })}\n`);
  }
  return cell;
}

/** A slope with its sign; rounded first, so a -0.3 reads +0, not -0. */
const signed = (value: number) => (Number.isFinite(value) ? `${Math.round(value) >= 0 ? '+' : ''}${fmt(Math.round(value) || 0)}` : fmt(value));

function renderTable(cells: Cell[]): string {
  const growth = GROWTH_WINDOW_MS / 1000;
  return markdownTable(
    [...(REPEAT > 1 ? ['run'] : []), 'link', 'transport', 'extra delay p50 / p95 / p99 / max ms', `p99 per ${growth} s ms`, 'frames sent / delivered / decodable',
      `stalls > ${STALL_MS} ms (count, total s)`, 'max gap ms', 'wire bytes / media byte'],
    cells.map((c) => [
      ...(REPEAT > 1 ? [String(c.run)] : []), PROFILE_LABELS[c.profile] ?? c.profile, c.transport,
      `${fmt(c.stats.p50)} / ${fmt(c.stats.p95)} / ${fmt(c.stats.p99)} / ${fmt(c.stats.max)}`,
      `${c.stats.p99Windows.map((p99) => fmt(p99)).join(' → ')} (trend ${signed(c.stats.trendMs)})`,
      `${c.delivery.sent} / ${c.delivery.delivered} / ${c.delivery.decodable}${c.error ? ` (${c.error})` : ''}`,
      `${c.stats.stalls}, ${fmt(c.stats.stallMs / 1000, 1)}`, fmt(c.stats.maxGapMs), fmt(c.overhead, 2),
    ]),
  );
}

/** One row per link and transport over the --repeat runs. */
function renderRepeatTable(summaries: { profile: string; transport: string; summary: RepeatSummary }[]): string {
  const growth = GROWTH_WINDOW_MS / 1000;
  const rows = summaries.map(({ profile, transport, summary: s }) => {
    return [
      PROFILE_LABELS[profile] ?? profile, transport,
      `${fmt(s.p99Median)} (${fmt(s.p99Min)}–${fmt(s.p99Max)})${s.failedRuns ? `, ${s.failedRuns} of ${s.runs} runs got no frame` : ''}`,
      `${s.p99WindowMeans.map((p99) => fmt(p99)).join(' → ')} (trend ${signed(s.trendMedian)})`,
      `${s.worstDelivery.sent} / ${s.worstDelivery.delivered} / ${s.worstDelivery.decodable}`,
      String(s.stalls), fmt(s.maxGapMs), fmt(s.overheadMedian, 2),
    ];
  });
  return markdownTable(
    ['link', 'transport', `p99 extra delay ms, median of ${REPEAT} (range)`, `p99 per ${growth} s ms, mean of the runs (median trend)`,
      'frames sent / delivered / decodable, worst run', `stalls > ${STALL_MS} ms, all runs`, 'max gap ms, all runs', 'wire bytes / media byte, median'],
    rows,
  );
}

async function main(): Promise<void> {
  const problem = canBuildLink();
  if (problem) throw new Error(`bench:weaknet ${problem}`);
  ensureSampleFlv(WEAKNET_SAMPLE_SECONDS); // before any namespace: the agents only read it
  const profiles = args.profiles.split(',').map((n) => PROFILES.find((p) => p.name === n) ?? fail(`unknown profile ${n}`));
  const transports = args.transports.split(',').map((n) => TRANSPORTS.find((t) => t.name === n) ?? fail(`unknown transport ${n}`));
  currentLink = await ImpairedLink.create();
  const cells: Cell[] = [];
  // Extra delay is measured against each transport's clean-link delay, found once.
  const baselines = new Map<string, number | null>();
  try {
    for (let run = 1; run <= REPEAT; run++) {
      for (const transport of transports) {
        if (!baselines.has(transport.name)) {
          baselines.set(transport.name, profiles[0]!.name === 'clean' ? null : (await runCell(transport, PROFILES[0]!, CALIBRATION_SECONDS, null, 0)).rawBaseline);
        }
        for (const profile of profiles) {
          const cell = await runCell(transport, profile, SECONDS, baselines.get(transport.name)!, run);
          if (profile.name === 'clean' && baselines.get(transport.name) === null) baselines.set(transport.name, cell.rawBaseline);
          cells.push(cell);
        }
      }
    }
  } finally {
    currentLink.destroy();
  }
  cells.sort((a, b) => profiles.findIndex((p) => p.name === a.profile) - profiles.findIndex((p) => p.name === b.profile) || a.run - b.run);
  // Every link and transport ran at least once (a failed run is a cell too), so each has a summary.
  const summaries = profiles.flatMap((p) => transports.map((t) => ({
    profile: p.name, transport: t.name, summary: summarizeRepeats(cells.filter((c) => c.profile === p.name && c.transport === t.name)),
  })));
  const p99Of = (profile: string, transport: string) => summaries.find((s) => s.profile === profile && s.transport === transport)!.summary.p99Median;
  const svg = groupedBarChart(`p99 extra delay per link profile (${SECONDS} s per cell${REPEAT > 1 ? `, median of ${REPEAT} runs` : ''})`, 'ms', transports.map((t) => t.name),
    profiles.map((p) => ({ label: p.name, values: transports.map((t) => p99Of(p.name, t.name)) })), 1000);
  const command = `sudo npm run bench:weaknet -- ${process.argv.slice(2).join(' ')}`.trim();
  const section = [
    '## Weak network: origin → edge over an impaired link',
    '',
    `One 2.5 Mbit/s H.264 720p30 + AAC stream (30 fps, 2 s GOP, a ${WEAKNET_SAMPLE_SECONDS} s clip looped). Through our server: published to the origin; ${args.via === 'relay' ? 'the edge server pulls it over the transport (RELAY_ORIGIN) and the reader is an HTTP-FLV viewer of the edge' : 'a reader in the edge namespace plays it from the origin over the transport (the edge pull leg on its own)'}. Peers, end to end across the same link without our server: \`srt\` = ffmpeg -c copy → MPEG-TS → \`srt-live-transmit\` live mode, latency 4× RTT (400 ms at 50 ms one way) → \`srt-live-transmit\` → a TS reader; \`ikcp\` = the FLV bytes over the reference ikcp.c (node-kcp), nodelay 1,10,2, nc=1. ${SECONDS} s per cell after a ${WARMUP_SECONDS} s warm-up${SECONDS < FULL_CELL_SECONDS ? ` (**short run**: ${SECONDS} s cells, not ${FULL_CELL_SECONDS})` : ''}. Extra delay = arrival − (send time + frame timestamp) − the same transport's median on the clean link, so the 50 ms one-way delay and SRT's latency count as extra; the p99 of each ${GROWTH_WINDOW_MS / 1000} s in turn tells whether it grows, and so does the trend: the least-squares slope of every frame's extra delay over the run, ms per ${GROWTH_WINDOW_MS / 1000} s. Frames sent = video frames due from ${DELIVERY_GRACE_MS / 1000} s before the window to ${DELIVERY_GRACE_MS / 1000} s before its end; delivered = arrived whole before the window's end (a TS frame with a missing packet is not whole); decodable = delivered and its GOP's keyframe delivered too. Max gap = longest time without a frame arriving. Wire bytes: both directions, IP headers included, per media payload byte (FLV tag bodies; PES payloads for SRT). Loss applies to both directions. TCP congestion control is set per route (\`ip route … congctl\`).`,
    '',
    `Machine: ${machineLine()}. Command: \`${command}\``,
    '',
    ...(REPEAT > 1
      ? [`Each cell ran ${REPEAT} times, in rounds (every transport on every link, then again). Summary:`, '', renderRepeatTable(summaries), '', 'The runs:', '', renderTable(cells)]
      : [renderTable(cells)]),
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
    process.exit(130);
  });
}

await main();
process.exit(0);
