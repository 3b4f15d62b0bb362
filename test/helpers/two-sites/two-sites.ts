/**
 * Two sites on one machine, as deployed across a border: an ORIGIN cluster
 * and an EDGE cluster (each: 2 media tasks, nginx as TCP+UDP load balancer,
 * its own dynalite and s3rver; scripts/local-cluster.ts) in two network
 * namespaces of their own, joined only by an impaired link
 * (bench/lib/impaired-link.ts: a TUN wire with delay, iptables random loss).
 * The namespaces are named per run, so runs in other worktrees and the
 * benchmarks cannot collide with this one; close() removes them and kills
 * whatever still runs in them, and a run killed before it could is cleaned
 * up by the next one (ImpairedLink.removeStaleUniqueLinks).
 *
 * The test process stays in the root namespace; site-agent.ts runs the
 * clusters, viewers and HLS watchers inside the namespaces.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { canBuildLink, ImpairedLink, nsExec, ORIGIN_IP, type LinkProfile } from '../../../bench/lib/impaired-link.js';
import { ensureSampleFlv } from '../../../bench/lib/sample-media.js';

const AGENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'site-agent.ts');

/** The cross-border link of issue 19: 50 ms one way, 5% random loss in each direction. */
export const BORDER_LINK: LinkProfile = { name: 'border', delayMs: 50, lossPercent: 5 };
export const CLEAN_LINK: LinkProfile = { name: 'clean', delayMs: 0, lossPercent: 0 };

/** How the edge reaches the origin: RTMP over KCP (with FEC), or RTMP over TCP for comparison. */
export type EdgeTransport = 'kcp' | 'rtmp';

/** KCP FEC on both ends of the cross-border link (data, parity shards). */
const KCP_FEC = '10,3';

interface ClusterInfo {
  lb: { rtmpPort: number; kcpPort: number; httpPort: number };
  s3Endpoint: string;
  tasks: { id: string; pid: number; httpPort: number }[];
}

/**
 * Above this 1-minute load per core the two-site figures measure the
 * machine's contention, not the link: at load 15–22 on 2 cores (other test
 * suites and benchmarks) every 20 s window had a 0.5–0.7 s stall at the
 * origin's own viewer as well; at load 8–17 the test passed.
 */
const MAX_LOAD_PER_CORE = 4;

/** Why the two-site test cannot run here, or null. */
export function twoSitesUnavailable(options: { ignoreLoad?: boolean } = {}): string | null {
  const problem = canBuildLink();
  if (problem) return `the two-site test ${problem}`;
  const load = os.loadavg()[0]!;
  if (!options.ignoreLoad && load > MAX_LOAD_PER_CORE * os.availableParallelism()) {
    return `the machine is overloaded (1-minute load ${load.toFixed(1)} on ${os.availableParallelism()} cores, over ${MAX_LOAD_PER_CORE} per core): the timing figures would measure the contention, not the link; run it again when the machine is quieter, or npm run bench:edge`;
  }
  const missing = ['ip', 'tc', 'iptables', 'python3', 'nginx', 'ffmpeg'].filter((command) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0);
  if (missing.length) return `the two-site test needs ${missing.join(', ')} on PATH (.ci/run installs them)`;
  return null;
}

/** A child in a namespace that reports JSON lines. */
class Agent {
  readonly child: ChildProcess;
  private readonly listeners = new Set<(message: Record<string, unknown>) => void>();
  stderr = '';

  constructor(ns: string, args: string[], env: Record<string, string> = {}) {
    const command = [...nsExec(ns), process.execPath, '--import', 'tsx', AGENT, ...args];
    this.child = spawn(command[0]!, command.slice(1), { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let message: Record<string, unknown>;
      try { message = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      for (const listener of this.listeners) listener(message);
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString('utf8')).slice(-8000); });
  }

  on(listener: (message: Record<string, unknown>) => void): void {
    this.listeners.add(listener);
  }

  /** The next message carrying `key`. */
  next<T>(key: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no "${key}" from the site agent within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      const onExit = () => done(new Error(`site agent exited before "${key}": ${this.stderr}`));
      const listener = (message: Record<string, unknown>) => { if (key in message) done(null, message[key] as T); };
      const done = (err: Error | null, value?: T) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        this.child.off('exit', onExit);
        if (err) reject(err); else resolve(value!);
      };
      this.listeners.add(listener);
      this.child.once('exit', onExit);
    });
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin!.end();
      this.child.kill('SIGTERM');
      setTimeout(() => this.child.kill('SIGKILL'), 10_000).unref();
    });
  }
}

/** One site's cluster, driven through its agent. */
export class Site {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly name: string, private readonly agent: Agent, readonly info: ClusterInfo) {}

  static async start(name: string, ns: string, taskEnv: Record<string, string>): Promise<Site> {
    const agent = new Agent(ns, ['cluster'], { SITE_NAME: name, SITE_TASK_ENV: JSON.stringify(taskEnv) });
    try {
      return new Site(name, agent, await agent.next<ClusterInfo>('cluster', 60_000));
    } catch (err) {
      await agent.stop();
      throw err;
    }
  }

  /** GET on the site's load balancer, from inside the site. */
  get(urlPath: string): Promise<{ status: number; body: string }> {
    return this.request(`get ${urlPath}`);
  }

  /** The tail of every task's log. */
  async logs(chars = 4000): Promise<string> {
    return (await this.request(`logs ${chars}`)).body;
  }

  private request(line: string): Promise<{ status: number; body: string }> {
    const result = this.queue.then(() => {
      const reply = this.agent.next<{ status: number; body: string }>('reply', 10_000);
      this.agent.child.stdin!.write(`${line}\n`);
      return reply;
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** The task that owns (ingests or pulls) the stream, from the site's /api/live. */
  async owner(stream: string): Promise<ClusterInfo['tasks'][number] | undefined> {
    const { status, body } = await this.get('/api/live');
    if (status !== 200) return undefined;
    const id = (JSON.parse(body) as { streams: { name: string; task?: { id: string } }[] }).streams.find((s) => s.name === stream)?.task?.id;
    return this.info.tasks.find((t) => t.id === id);
  }

  stop(): Promise<void> {
    return this.agent.stop();
  }
}

/** An HTTP-FLV viewer at the edge's load balancer: every video frame's [timestamp, arrivedAt], on one connection. */
export class FlvViewer {
  readonly frames: [timestamp: number, arrivedAt: number][] = [];
  closedReason: string | null = null;

  constructor(private readonly agent: Agent) {
    agent.on((message) => {
      if (message.frame) this.frames.push(message.frame as [number, number]);
      if (message.closed) this.closedReason = String(message.closed);
    });
  }

  stop(): Promise<void> {
    return this.agent.stop();
  }
}

export interface SeenSegment {
  uri: string;
  seenAt: number;
  /** First video PTS (90 kHz): the same media has the same PTS on both sites. */
  pts: number | null;
}

/** Records when a site's live playlist first lists each segment. */
export class HlsWatch {
  readonly segments: SeenSegment[] = [];

  constructor(private readonly agent: Agent) {
    agent.on((message) => { if (message.segment) this.segments.push(message.segment as SeenSegment); });
  }

  stop(): Promise<void> {
    return this.agent.stop();
  }
}

/** How long the encoder waits before reconnecting after it lost or was refused its connection (OBS's "retry delay", set low). */
export const ENCODER_RETRY_DELAY_MS = 1000;

/**
 * ffmpeg replaying the pre-encoded sample in real time (-re, -c copy: almost
 * no CPU) to the origin's load balancer, reconnecting whenever it loses or is
 * refused its connection, as OBS's automatic reconnect does.
 */
export class Encoder {
  private child!: ChildProcess;
  private stopped = false;
  /** When each (re)connect attempt started. */
  readonly attempts: number[] = [];
  stderr = '';

  constructor(private readonly ns: string, private readonly url: string) {
    this.spawn();
  }

  private spawn(): void {
    const command = [...nsExec(this.ns), 'ffmpeg', '-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1',
      '-i', ensureSampleFlv(), '-c', 'copy', '-f', 'flv', this.url];
    this.attempts.push(Date.now());
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString('utf8')).slice(-4000); });
    child.once('exit', () => {
      if (!this.stopped) setTimeout(() => { if (!this.stopped) this.spawn(); }, ENCODER_RETRY_DELAY_MS);
    });
  }

  /** Whether the current ffmpeg process is running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stop(): void {
    this.stopped = true;
    this.child.kill('SIGKILL');
  }
}

export class TwoSites {
  edge: Site | null = null;
  private readonly agents = new Set<Agent>();
  private readonly encoders = new Map<string, Encoder>();
  private constructor(readonly link: ImpairedLink, readonly origin: Site, private readonly relaySecret: string) {}

  /** Builds the link (clean until apply()) and starts the origin site. */
  static async start(): Promise<TwoSites> {
    ensureSampleFlv(); // before any namespace exists: encoding it takes a while
    const link = await ImpairedLink.create();
    // Shared by both sites, as Secrets Manager hands it to both; passed in the environment only.
    const relaySecret = randomBytes(32).toString('hex');
    try {
      const origin = await Site.start('origin', link.names.originNs, { KCP_FEC, RELAY_SECRET: relaySecret });
      return new TwoSites(link, origin, relaySecret);
    } catch (err) {
      link.destroy();
      throw err;
    }
  }

  /**
   * (Re)starts the edge site in edge mode (EDGE_MODE=all: it carries every
   * live stream of the origin, watched or not) over `transport`: RTMP over
   * KCP with FEC to the origin's UDP listener, or RTMP over TCP.
   */
  async startEdge(transport: EdgeTransport): Promise<Site> {
    await this.edge?.stop();
    this.edge = null;
    const { lb } = this.origin.info;
    this.edge = await Site.start('edge', this.link.names.edgeNs, {
      KCP_FEC,
      RELAY_SECRET: this.relaySecret,
      EDGE_ORIGIN: transport === 'kcp' ? `kcp://${ORIGIN_IP}:${lb.kcpPort}` : `rtmp://${ORIGIN_IP}:${lb.rtmpPort}`,
      EDGE_ORIGIN_API: `http://${ORIGIN_IP}:${lb.httpPort}`,
      EDGE_MODE: 'all',
      EDGE_NAME: 'edge-local',
    });
    return this.edge;
  }

  /** Starts ffmpeg publishing `stream` to the origin's load balancer over RTMP, as a broadcaster's encoder does. */
  publish(stream: string): Encoder {
    if (this.encoders.has(stream)) throw new Error(`${stream} is already published`);
    const encoder = new Encoder(this.link.names.originNs, `rtmp://127.0.0.1:${this.origin.info.lb.rtmpPort}/live/${stream}`);
    this.encoders.set(stream, encoder);
    return encoder;
  }

  encoderOf(stream: string): Encoder {
    const encoder = this.encoders.get(stream);
    if (!encoder) throw new Error(`nothing publishes ${stream}`);
    return encoder;
  }

  /** An HTTP-FLV viewer of `stream` at the edge's load balancer (viewers and watchers run in the site's namespace). */
  viewAtEdge(stream: string): FlvViewer {
    if (!this.edge) throw new Error('no edge site');
    return new FlvViewer(this.track(new Agent(this.link.names.edgeNs, ['view', String(this.edge.info.lb.httpPort), stream])));
  }

  /** An HTTP-FLV viewer of `stream` at the origin's load balancer (the reference the edge's delay is compared with). */
  viewAtOrigin(stream: string): FlvViewer {
    return new FlvViewer(this.track(new Agent(this.link.names.originNs, ['view', String(this.origin.info.lb.httpPort), stream])));
  }

  watchHls(site: 'origin' | 'edge', stream: string): HlsWatch {
    const target = site === 'origin' ? this.origin : this.edge;
    if (!target) throw new Error('no edge site');
    const ns = site === 'origin' ? this.link.names.originNs : this.link.names.edgeNs;
    return new HlsWatch(this.track(new Agent(ns, ['watch-hls', target.info.s3Endpoint, stream])));
  }

  /** The sites' log lines at warn level and above, and relay link changes: what to read when a figure is off. */
  async notableLogLines(): Promise<string[]> {
    const lines: string[] = [];
    for (const site of [this.origin, this.edge]) {
      if (!site) continue;
      for (const line of (await site.logs(64 * 1024)).split('\n')) {
        if (line.startsWith('---') || /"level":[4-6]0/.test(line) || line.includes('"relay":"pull"')) lines.push(`${site.name} ${line.slice(0, 400)}`);
      }
    }
    return lines;
  }

  private track(agent: Agent): Agent {
    this.agents.add(agent);
    agent.child.once('exit', () => this.agents.delete(agent));
    return agent;
  }

  async close(): Promise<void> {
    for (const encoder of this.encoders.values()) encoder.stop();
    await Promise.all([...this.agents].map((a) => a.stop()));
    await Promise.all([this.edge?.stop(), this.origin.stop()]);
    this.link.destroy(); // kills anything left in the namespaces
  }
}
