/**
 * An impaired network path between two Linux network namespaces, built only
 * from what this kernel offers (no netem):
 *
 *   ns bcl-PID-TAG-o [10.77.0.1 on TUN bwPIDTAGo] <-> packet wire (userspace) <-> [10.77.0.2 on TUN bwPIDTAGe] ns bcl-PID-TAG-e
 *
 * PID is the creating process's pid in base 36 and TAG a random one, so
 * several runs (other worktrees, a benchmark beside the test suite) can build
 * links at the same time; the addresses repeat, but each pair of namespaces
 * is its own network. A run killed before it cleaned up leaves namespaces
 * whose PID is dead: the next run removes them.
 *
 * - Delay and burst loss: a small userspace packet wire (python3, stdlib only:
 *   it needs the TUNSETIFF ioctl, which Node cannot issue) that reads IP
 *   packets from one TUN device and writes them to the other after the
 *   configured one-way delay, dropping packets in a Gilbert-Elliott model.
 * - Random loss: iptables `-m statistic --mode random` DROP on INPUT of each
 *   namespace's TUN device, i.e. in both directions (data and ACKs).
 * - Bottleneck: a tbf qdisc on the origin's TUN device (origin -> edge).
 * - TCP congestion control: per route (`ip route ... congctl cubic|bbr`),
 *   because /proc/sys is read-only inside these namespaces here.
 *
 * Every packet TCP and KCP send between the namespaces crosses the wire, so
 * the loss and delay are real to both. Needs root.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { childLines } from './child-lines.js';

export const ORIGIN_IP = '10.77.0.1';
export const EDGE_IP = '10.77.0.2';

/** The namespaces and TUN devices of one link (device names: at most 15 characters). */
export interface LinkNames {
  originNs: string;
  edgeNs: string;
  originDev: string;
  edgeDev: string;
}

const UNIQUE_NS = /^bcl-([0-9a-z]+)-[0-9a-f]{4}-[oe]$/;

/** Names no other run uses: this process's id (so a later run can tell a dead run's leftovers) and a random tag. */
export function uniqueLinkNames(): LinkNames {
  const pid = process.pid.toString(36);
  const tag = randomBytes(2).toString('hex');
  return { originNs: `bcl-${pid}-${tag}-o`, edgeNs: `bcl-${pid}-${tag}-e`, originDev: `bw${pid}${tag}o`, edgeDev: `bw${pid}${tag}e` };
}

export interface LinkProfile {
  name: string;
  /** One-way delay in each direction. */
  delayMs: number;
  /** Random loss in each direction, percent. */
  lossPercent: number;
  /** Gilbert-Elliott burst loss: per-packet chance to enter the lossy state and to leave it (all packets lost while in it). */
  burst?: { enter: number; exit: number };
  /** Bottleneck rate origin -> edge, kbit/s. */
  rateKbit?: number;
  /** The bottleneck's drop-tail queue in 1500-byte packets (default: 200 ms of the rate). */
  queuePackets?: number;
}

const WIRE = String.raw`
import fcntl, heapq, os, random, select, struct, sys, time, json
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454ca, 0x0001, 0x1000
def open_tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd
a, b = open_tun(sys.argv[1]), open_tun(sys.argv[2])
peer = {a: b, b: a}
bad = {a: False, b: False}
profile = {'delay': 0.0, 'burst': None}
queue, seq, dropped = [], 0, 0
os.set_blocking(0, False)
print('ready', flush=True)
def lost(fd):
    burst = profile['burst']
    if not burst: return False
    if bad[fd]: bad[fd] = random.random() >= burst['exit']
    else: bad[fd] = random.random() < burst['enter']
    return bad[fd]
pending = b''
while True:
    timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 0.1
    ready, _, _ = select.select([a, b, 0], [], [], timeout)
    for fd in ready:
        if fd == 0:
            data = os.read(0, 65536)
            if not data: sys.exit(0)
            pending += data
            while b'\n' in pending:
                line, pending = pending.split(b'\n', 1)
                p = json.loads(line)
                profile = {'delay': p['delayMs'] / 1000.0, 'burst': p.get('burst')}
                print('ok %d' % dropped, flush=True)
            continue
        while True:
            try: packet = os.read(fd, 65536)
            except BlockingIOError: break
            if lost(fd):
                dropped += 1
                continue
            seq += 1
            heapq.heappush(queue, (time.monotonic() + profile['delay'], seq, peer[fd], packet))
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, out, packet = heapq.heappop(queue)
        try: os.write(out, packet)
        except OSError: pass
`;

function run(args: string[], allowFailure = false): string {
  const result = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (result.status !== 0 && !allowFailure) throw new Error(`${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

export function nsExec(ns: string): string[] {
  return ['ip', 'netns', 'exec', ns];
}

export class ImpairedLink {
  private constructor(private readonly wire: ChildProcess, private readonly wireLines: { next(): Promise<string> }, readonly names: LinkNames) {}

  static async create(names: LinkNames = uniqueLinkNames()): Promise<ImpairedLink> {
    ImpairedLink.removeLeftovers(names);
    ImpairedLink.removeStaleUniqueLinks();
    const { originNs, edgeNs, originDev, edgeDev } = names;
    run(['ip', 'netns', 'add', originNs]);
    run(['ip', 'netns', 'add', edgeNs]);
    const wire = spawn('python3', ['-c', WIRE, originDev, edgeDev], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = childLines(wire, 'packet wire');
    if (await lines.next() !== 'ready') {
      wire.kill('SIGKILL');
      ImpairedLink.removeLeftovers(names);
      throw new Error('packet wire failed to start');
    }
    const link = new ImpairedLink(wire, lines, names);
    for (const [ns, dev, local, remote] of [[originNs, originDev, ORIGIN_IP, EDGE_IP], [edgeNs, edgeDev, EDGE_IP, ORIGIN_IP]] as const) {
      run(['ip', 'link', 'set', dev, 'netns', ns]);
      run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      run(['ip', '-n', ns, 'addr', 'add', local, 'peer', remote, 'dev', dev]);
      run(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    }
    return link;
  }

  /**
   * Deletes the namespaces (their TUN devices and iptables rules go with
   * them), first killing what still runs in them: deleting a namespace does
   * not stop its processes.
   */
  static removeLeftovers(names: Pick<LinkNames, 'originNs' | 'edgeNs'>): void {
    for (const ns of [names.originNs, names.edgeNs]) {
      for (const pid of run(['ip', 'netns', 'pids', ns], true).split('\n').filter(Boolean)) {
        try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone already */ }
      }
      run(['ip', 'netns', 'del', ns], true);
    }
  }

  /** Removes uniquely named links whose creating process is dead (a run killed before it cleaned up). */
  static removeStaleUniqueLinks(): void {
    let entries: string[] = [];
    try { entries = readdirSync('/run/netns'); } catch { /* no namespaces yet */ }
    for (const ns of entries) {
      const owner = UNIQUE_NS.exec(ns)?.[1];
      if (owner === undefined || isAlive(Number.parseInt(owner, 36))) continue;
      ImpairedLink.removeLeftovers({ originNs: ns, edgeNs: ns });
    }
  }

  async apply(profile: LinkProfile): Promise<void> {
    const { originNs, edgeNs, originDev, edgeDev } = this.names;
    for (const [ns, dev] of [[originNs, originDev], [edgeNs, edgeDev]] as const) {
      run([...nsExec(ns), 'iptables', '-w', '-F', 'INPUT']);
      if (profile.lossPercent > 0) {
        run([...nsExec(ns), 'iptables', '-w', '-A', 'INPUT', '-i', dev, '-m', 'statistic', '--mode', 'random',
          '--probability', String(profile.lossPercent / 100), '-j', 'DROP']);
      }
    }
    run(['ip', '-n', originNs, 'link', 'set', originDev, 'txqueuelen', '1000']);
    run(['tc', '-n', originNs, 'qdisc', 'del', 'dev', originDev, 'root'], true);
    if (profile.rateKbit) {
      // burst: one 1500-byte packet's worth plus a little; latency bounds the queue (drops beyond it, as a router would).
      const queue = profile.queuePackets ? ['limit', String(profile.queuePackets * 1500)] : ['latency', '200ms'];
      run(['tc', '-n', originNs, 'qdisc', 'add', 'dev', originDev, 'root', 'tbf', 'rate', `${profile.rateKbit}kbit`, 'burst', '4kb', ...queue]);
    }
    this.wire.stdin!.write(`${JSON.stringify({ delayMs: profile.delayMs, burst: profile.burst ?? null })}\n`);
    const reply = await this.wireLines.next();
    if (!reply.startsWith('ok')) throw new Error('packet wire did not take the profile');
  }

  /** Sets the TCP congestion control of new connections between the namespaces, per route. */
  setCongestionControl(algorithm: 'cubic' | 'bbr'): void {
    const { originNs, edgeNs, originDev, edgeDev } = this.names;
    run(['ip', '-n', originNs, 'route', 'replace', `${EDGE_IP}/32`, 'dev', originDev, 'congctl', algorithm]);
    run(['ip', '-n', edgeNs, 'route', 'replace', `${ORIGIN_IP}/32`, 'dev', edgeDev, 'congctl', algorithm]);
  }

  /** Bytes that crossed the link so far, both directions, as the origin's interface counted them (IP headers included). */
  wireBytes(): number {
    const { originNs, originDev } = this.names;
    const devLine = run([...nsExec(originNs), 'cat', '/proc/net/dev']).split('\n').find((l) => l.trim().startsWith(`${originDev}:`));
    if (!devLine) throw new Error(`${originDev} not found`);
    const fields = devLine.split(':')[1]!.trim().split(/\s+/).map(Number);
    return fields[0]! + fields[8]!; // rx bytes + tx bytes
  }

  destroy(): void {
    this.wire.stdin!.end();
    this.wire.kill('SIGKILL');
    ImpairedLink.removeLeftovers(this.names);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether this process can build the link (root, TUN, namespaces). */
export function canBuildLink(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN devices, iptables)';
  try {
    readFileSync('/dev/net/tun');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '/dev/net/tun is missing';
  }
  return null;
}
