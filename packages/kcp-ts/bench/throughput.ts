/**
 * KCP throughput and CPU cost: our TypeScript KCP against the reference C
 * implementation (ikcp.c via node-kcp), one direction over 127.0.0.1, both
 * ends in this process, with the live-video tuning. Clean loopback, then
 * through the lossy UDP proxy (5% loss each way, so both implementations pay
 * the same proxy cost). Prints a markdown section: heading, method, table.
 * Each cell runs BENCH_RUNS times (default 3), the implementations taking
 * turns, and prints the median with the range: on this 2-core machine one
 * run of a cell varies by about +-10 %, as much as the differences measured.
 *
 *   npm run bench                                        (in packages/kcp-ts; BENCH_MB=20 for shorter transfers, where startup weighs more)
 *   npm run bench:kcp -- --write-doc                     (from the repository root: adds the machine and
 *                                                         replaces the section in Bridgecast's docs/benchmarks.md)
 *
 * "CPU ms per Mbit" is process CPU time (user + system, both ends, sockets
 * included) divided by megabits moved; it equals the CPU cores needed per
 * Mbit/s of stream, x1000.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { KcpServerEndpoint, connectKcp } from 'kcp-ts/node';
import type { KcpStream } from 'kcp-ts/node';
import { DEFAULT_KCP_TUNING, type KcpTuning } from 'kcp-ts';
import { startLossyUdpProxy, type LossyUdpProxy } from '@bridgecast/test-support/lossy-udp-proxy.js';
import { ReferenceKcpPeer } from '../test/helpers/reference-kcp.js';

const tuning = DEFAULT_KCP_TUNING;
const megabytes = Number(process.env.BENCH_MB ?? 64);
const runs = Number(process.env.BENCH_RUNS ?? 3);

interface Path {
  name: string;
  lossPercent: number;
}

interface Result {
  implementation: string;
  path: string;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
}

/** Sends `bytes` from a client to a server (through `viaProxy`); resolves when the server has all of it. */
type Transfer = (bytes: number, viaProxy: (port: number) => Promise<number>) => Promise<void>;

/** The live-video tuning without its congestion controller: ikcp's behaviour (nc, unpaced). */
const uncontrolled: KcpTuning = { ...tuning, congestionControl: 'none' };

const oursTransfer = (tuning: KcpTuning): Transfer => async (bytes, viaProxy) => {
  const endpoint = new KcpServerEndpoint({ port: 0, host: '127.0.0.1', tuning });
  const { port } = await endpoint.listen();
  const client = await connectKcp('127.0.0.1', await viaProxy(port), { tuning });
  const sessionReady = once(endpoint, 'session');
  const chunk = randomBytes(64 * 1024);
  let sent = 0;
  const writeMore = (): void => {
    while (sent < bytes) {
      sent += chunk.length;
      if (!client.write(chunk)) return void client.once('drain', writeMore);
    }
  };
  writeMore();
  const [server] = (await sessionReady) as [KcpStream];
  server.markVerified();
  let received = 0;
  await new Promise<void>((resolve) =>
    server.on('data', (data: Buffer) => {
      received += data.length;
      if (received >= bytes) resolve();
    }),
  );
  client.destroy();
  await endpoint.close();
};

const referenceTransfer: Transfer = async (bytes, viaProxy) => {
  const { peer: server, port } = await ReferenceKcpPeer.listen(tuning);
  const client = await ReferenceKcpPeer.connect(await viaProxy(port), 0x1234, tuning);
  const chunk = randomBytes(64 * 1024);
  for (let sent = 0; sent < bytes; sent += chunk.length) client.write(chunk);
  await server.whenReceived(bytes);
  await Promise.all([client.close(), server.close()]);
};

async function measure(implementation: string, transfer: Transfer, path: Path): Promise<Result> {
  const bytes = Math.ceil((megabytes * 1024 * 1024) / (64 * 1024)) * 64 * 1024;
  const proxies: LossyUdpProxy[] = [];
  const viaProxy = async (port: number): Promise<number> => {
    if (path.lossPercent === 0) return port;
    const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port }, lossPercent: path.lossPercent, seed: 5 });
    proxies.push(proxy);
    return proxy.port;
  };
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await transfer(bytes, viaProxy);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await Promise.all(proxies.map((proxy) => proxy.close()));
  return { implementation, path: path.name, bytes, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

const paths: Path[] = [
  { name: 'clean loopback', lossPercent: 0 },
  { name: '5% loss each way', lossPercent: 5 },
];
interface Cell {
  implementation: string;
  transfer: Transfer;
}
const cells: Cell[] = [{ implementation: `kcp-ts (ours, congestion control ${tuning.congestionControl})`, transfer: oursTransfer(tuning) }];
if (tuning.congestionControl !== 'none') cells.push({ implementation: 'kcp-ts (ours, congestion control none)', transfer: oursTransfer(uncontrolled) });
cells.push({ implementation: 'ikcp.c (node-kcp)', transfer: referenceTransfer });

/** Per path and implementation, the runs in the order measured. */
const results: Result[][] = [];
for (const path of paths) {
  const perCell: Result[][] = cells.map(() => []);
  for (let run = 0; run < runs; run++) {
    for (const [i, cell] of cells.entries()) perCell[i]!.push(await measure(cell.implementation, cell.transfer, path));
  }
  results.push(...perCell);
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const mbits = (r: Result): number => (r.bytes * 8) / 1e6 / r.seconds;
const cpuPerMbit = (r: Result): number => (r.cpuSeconds * 1000) / ((r.bytes * 8) / 1e6);

const section = [
  '## KCP: ours against the reference ikcp.c',
  '',
  `One-way transfer of ${megabytes} MiB over 127.0.0.1, both ends in one process, mtu ${tuning.mtu}, wnd ${tuning.sndWnd}/${tuning.rcvWnd}, interval ${tuning.interval} ms, nodelay ${tuning.nodelay}, resend ${tuning.resend}, nc ${tuning.nc}, congestion control ${tuning.congestionControl} (the live-video tuning); clean, then through the lossy UDP proxy at 5% loss each way. Each cell ran ${runs} times, the implementations taking turns: the median, and the range. CPU ms per Mbit = process CPU time (both ends, sockets included) / megabits moved.`,
  '',
  '| implementation | path | Mbit/s, median | range | CPU ms per Mbit, median |',
  '|---|---|---:|---:|---:|',
  ...results.map((cell) => {
    const rates = cell.map(mbits);
    return `| ${cell[0]!.implementation} | ${cell[0]!.path} | ${median(rates).toFixed(1)} | ${Math.min(...rates).toFixed(1)}-${Math.max(...rates).toFixed(1)} | ${median(cell.map(cpuPerMbit)).toFixed(2)} |`;
  }),
].join('\n');
console.log(`\n${section}\n`);
