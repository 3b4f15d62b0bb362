/**
 * An impaired network path between two Linux network namespaces, built only
 * from what this kernel offers (no netem):
 *
 *   ns bc-origin-ID [10.77.0.1 on TUN bcwIDo] <-> packet wire (userspace) <-> [10.77.0.2 on TUN bcwIDe] ns bc-edge-ID
 *
 * ID is the benchmark process's pid in base 36, so several runs (other
 * worktrees, other benchmarks) can build links at the same time; the
 * addresses repeat, but each pair of namespaces is its own network.
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
import { readFileSync } from 'node:fs';
import { childLines } from './child-lines.js';

export const ORIGIN_IP = '10.77.0.1';
export const EDGE_IP = '10.77.0.2';
const NS_PREFIXES = ['bc-origin-', 'bc-edge-'];

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

/** This run's names: the pid in base 36 (at most 5 characters, so a TUN name stays within IFNAMSIZ's 15). */
function linkNames(pid: number) {
  const id = pid.toString(36);
  return { originNs: `${NS_PREFIXES[0]}${id}`, edgeNs: `${NS_PREFIXES[1]}${id}`, originDev: `bcw${id}o`, edgeDev: `bcw${id}e` };
}

export class ImpairedLink {
  /** Namespace the origin side runs in (run commands there with nsExec). */
  readonly originNs: string;
  /** Namespace the edge side runs in. */
  readonly edgeNs: string;
  private readonly originDev: string;
  private readonly edgeDev: string;

  private constructor(private readonly wire: ChildProcess, private readonly wireLines: { next(): Promise<string> }, names: ReturnType<typeof linkNames>) {
    ({ originNs: this.originNs, edgeNs: this.edgeNs, originDev: this.originDev, edgeDev: this.edgeDev } = names);
  }

  static async create(): Promise<ImpairedLink> {
    ImpairedLink.removeLeftovers();
    const names = linkNames(process.pid);
    run(['ip', 'netns', 'add', names.originNs]);
    run(['ip', 'netns', 'add', names.edgeNs]);
    const wire = spawn('python3', ['-c', WIRE, names.originDev, names.edgeDev], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = childLines(wire, 'packet wire');
    if (await lines.next() !== 'ready') throw new Error('packet wire failed to start');
    const link = new ImpairedLink(wire, lines, names);
    for (const [ns, dev, local, remote] of [[names.originNs, names.originDev, ORIGIN_IP, EDGE_IP], [names.edgeNs, names.edgeDev, EDGE_IP, ORIGIN_IP]] as const) {
      run(['ip', 'link', 'set', dev, 'netns', ns]);
      run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      run(['ip', '-n', ns, 'addr', 'add', local, 'peer', remote, 'dev', dev]);
      run(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    }
    return link;
  }

  /**
   * Deletes the namespaces of runs that are gone (killed before they cleaned
   * up; their TUN devices and iptables rules go with them), and this run's own.
   * A live run's namespaces are left alone.
   */
  static removeLeftovers(): void {
    for (const ns of run(['ip', 'netns', 'list'], true).split('\n').map((l) => l.split(' ')[0]!)) {
      const prefix = NS_PREFIXES.find((p) => ns.startsWith(p));
      if (!prefix) continue;
      const pid = Number.parseInt(ns.slice(prefix.length), 36);
      if (pid === process.pid || !isAlive(pid)) run(['ip', 'netns', 'del', ns], true);
    }
  }

  async apply(profile: LinkProfile): Promise<void> {
    for (const [ns, dev] of [[this.originNs, this.originDev], [this.edgeNs, this.edgeDev]] as const) {
      run([...nsExec(ns), 'iptables', '-w', '-F', 'INPUT']);
      if (profile.lossPercent > 0) {
        run([...nsExec(ns), 'iptables', '-w', '-A', 'INPUT', '-i', dev, '-m', 'statistic', '--mode', 'random',
          '--probability', String(profile.lossPercent / 100), '-j', 'DROP']);
      }
    }
    run(['ip', '-n', this.originNs, 'link', 'set', this.originDev, 'txqueuelen', '1000']);
    run(['tc', '-n', this.originNs, 'qdisc', 'del', 'dev', this.originDev, 'root'], true);
    if (profile.rateKbit) {
      // burst: one 1500-byte packet's worth plus a little; latency bounds the queue (drops beyond it, as a router would).
      const queue = profile.queuePackets ? ['limit', String(profile.queuePackets * 1500)] : ['latency', '200ms'];
      run(['tc', '-n', this.originNs, 'qdisc', 'add', 'dev', this.originDev, 'root', 'tbf', 'rate', `${profile.rateKbit}kbit`, 'burst', '4kb', ...queue]);
    }
    this.wire.stdin!.write(`${JSON.stringify({ delayMs: profile.delayMs, burst: profile.burst ?? null })}\n`);
    const reply = await this.wireLines.next();
    if (!reply.startsWith('ok')) throw new Error('packet wire did not take the profile');
  }

  /** Sets the TCP congestion control of new connections between the namespaces, per route. */
  setCongestionControl(algorithm: 'cubic' | 'bbr'): void {
    run(['ip', '-n', this.originNs, 'route', 'replace', `${EDGE_IP}/32`, 'dev', this.originDev, 'congctl', algorithm]);
    run(['ip', '-n', this.edgeNs, 'route', 'replace', `${ORIGIN_IP}/32`, 'dev', this.edgeDev, 'congctl', algorithm]);
  }

  /** Bytes that crossed the link so far, both directions, as the origin's interface counted them (IP headers included). */
  wireBytes(): number {
    const devLine = run([...nsExec(this.originNs), 'cat', '/proc/net/dev']).split('\n').find((l) => l.trim().startsWith(`${this.originDev}:`));
    if (!devLine) throw new Error(`${this.originDev} not found`);
    const fields = devLine.split(':')[1]!.trim().split(/\s+/).map(Number);
    return fields[0]! + fields[8]!; // rx bytes + tx bytes
  }

  destroy(): void {
    this.wire.stdin!.end();
    this.wire.kill('SIGKILL');
    ImpairedLink.removeLeftovers();
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
