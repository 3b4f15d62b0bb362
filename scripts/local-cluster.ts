/**
 * A cluster on one machine: N media tasks (separate processes), one shared
 * DynamoDB-compatible store (dynalite, holding the streams table and so the
 * live registry), one S3-compatible store (s3rver, the HLS bucket), and nginx's
 * stream module as the TCP+UDP load balancer in front, as the NLB is in AWS:
 * each new TCP connection or UDP flow goes to the next task (round robin).
 *
 *   npm run cluster -- --tasks 3
 *
 * prints the load balancer's RTMP, KCP and HTTP addresses and runs until
 * Ctrl-C. The end-to-end cluster test starts the same thing. An origin and
 * an edge cluster side by side (README, "Edges"):
 *
 *   export RELAY_SECRET=$(openssl rand -hex 32)
 *   npm run cluster -- --tasks 2 --id-prefix origin
 *   EDGE_ORIGIN=kcp://127.0.0.1:<origin KCP> EDGE_ORIGIN_API=http://127.0.0.1:<origin HTTP> npm run cluster -- --tasks 2 --id-prefix edge
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import S3rver from 's3rver';
import { startLocalDynamo, type LocalDynamo } from '@bridgecast/media/auth/local-dynamo.js';
import { freePort } from '@bridgecast/test-support/free-port.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BRIDGECAST = path.join(ROOT, 'services/media/bin/bridgecast.js');
const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';
export const CLUSTER_BUCKET = 'bridgecast-hls';

export interface ClusterTask {
  id: string;
  rtmpPort: number;
  kcpPort: number;
  httpPort: number;
  child: ChildProcess;
  /** The task's log (JSON lines), tail kept. */
  log(): string;
}

export interface LocalCluster {
  tasks: ClusterTask[];
  lb: { rtmpPort: number; kcpPort: number; httpPort: number };
  dynamo: LocalDynamo;
  s3Endpoint: string;
  workDir: string;
  close(): Promise<void>;
}

/** Thrown when a task exits before answering /healthz; `log` is what it printed. */
class TaskExitedEarly extends Error {
  constructor(readonly code: number | null, readonly log: string) {
    super(`task exited with ${code} before it was healthy:\n${log.slice(-2000)}`);
  }
}

async function waitHealthy(task: ClusterTask, timeoutMs = 20_000): Promise<void> {
  const { child, httpPort: port } = task;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new TaskExitedEarly(child.exitCode, task.log());
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`task on HTTP ${port} not healthy after ${timeoutMs} ms`);
}

function nginxConfig(dir: string, listen: string, lb: LocalCluster['lb'], tasks: Omit<ClusterTask, 'child' | 'log'>[]): string {
  const upstream = (name: string, port: (t: typeof tasks[number]) => number) =>
    `  upstream ${name} {\n${tasks.map((t) => `    server 127.0.0.1:${port(t)};`).join('\n')}\n  }`;
  return `load_module ${NGINX_STREAM_MODULE};
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
stream {
${upstream('rtmp', (t) => t.rtmpPort)}
${upstream('kcp', (t) => t.kcpPort)}
${upstream('http', (t) => t.httpPort)}
  proxy_connect_timeout 1s;
  server { listen ${listen}:${lb.rtmpPort}; proxy_pass rtmp; }
  server { listen ${listen}:${lb.httpPort}; proxy_pass http; }
  # One UDP flow per client address and port, kept while packets pass (KCP's keepalives do).
  server { listen ${listen}:${lb.kcpPort} udp; proxy_pass kcp; proxy_timeout 30s; }
}
`;
}

export interface ClusterOptions {
  tasks: number;
  /** Extra environment for every task. */
  env?: Record<string, string>;
  /** Also copy the tasks' logs to this process's stderr. */
  echoLogs?: boolean;
  /** Task ids are `<prefix>-<n>` (default `task`): two clusters on one machine (an origin and an edge) need different ones, as SERVER_IDs are relay via-chain entries. */
  idPrefix?: string;
  /** The address the load balancer listens on (default 127.0.0.1; 0.0.0.0 to be reached from another host or network namespace). */
  lbListen?: string;
}

export async function startLocalCluster(options: ClusterOptions): Promise<LocalCluster> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-cluster-'));
  const dynamo = await startLocalDynamo();
  const s3Dir = path.join(workDir, 's3');
  await mkdir(s3Dir);
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: s3Dir, silent: true, configureBuckets: [{ name: CLUSTER_BUCKET, configs: [] }] });
  const s3Endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
  // The secret the tasks sign their pulls from each other with (Secrets Manager in AWS); never printed.
  // An edge cluster must share its origin's: RELAY_SECRET from the environment wins over a fresh one.
  const relaySecret = process.env.RELAY_SECRET || randomBytes(32).toString('hex');
  const tasks: ClusterTask[] = [];
  const children: ChildProcess[] = [];
  let nginx: ChildProcess | undefined;
  const close = async () => {
    const all = [...children, ...(nginx ? [nginx] : [])].filter((c) => c.exitCode === null && c.signalCode === null);
    await Promise.all(all.map((c) => new Promise<void>((resolve) => {
      c.once('close', () => resolve());
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 5000).unref();
    })));
    await s3.close();
    await dynamo.close();
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    const spawnTask = (id: string, ports: Pick<ClusterTask, 'rtmpPort' | 'kcpPort' | 'httpPort'>): ClusterTask => {
      const child = spawn(process.execPath, [BRIDGECAST, 'serve'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          HOST: '127.0.0.1', CLUSTER_ADDRESS: '127.0.0.1', SERVER_ID: id,
          RTMP_PORT: String(ports.rtmpPort), KCP_PORT: String(ports.kcpPort), HTTP_PORT: String(ports.httpPort),
          DATA_DIR: path.join(workDir, id), AUTH: 'none', LOG_LEVEL: 'info',
          STREAMS_TABLE: dynamo.tableName, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
          HLS_BUCKET: CLUSTER_BUCKET, S3_ENDPOINT: s3Endpoint,
          AWS_REGION: 'local', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER',
          RELAY_SECRET: relaySecret, RELAY_IDLE_SECONDS: '5',
          ...options.env,
        },
      });
      children.push(child);
      let log = '';
      const keep = (d: Buffer) => {
        log += d.toString('utf8');
        if (log.length > 256 * 1024) log = log.slice(-128 * 1024);
        if (options.echoLogs) process.stderr.write(d);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      return { id, ...ports, child, log: () => log };
    };
    // A port is probed free and then released before the task binds it, so another
    // program (a test file running alongside) can take it in between: the task then
    // exits with "already in use", and is started again on fresh ports.
    const startTask = async (id: string): Promise<ClusterTask> => {
      for (let attempt = 1; ; attempt++) {
        const task = spawnTask(id, { rtmpPort: await freePort('tcp'), kcpPort: await freePort('udp'), httpPort: await freePort('tcp') });
        try {
          await waitHealthy(task);
          return task;
        } catch (err) {
          if (!(err instanceof TaskExitedEarly && err.log.includes('already in use') && attempt < 3)) throw err;
        }
      }
    };
    tasks.push(...await Promise.all(Array.from({ length: options.tasks }, (_, i) => startTask(`${options.idPrefix ?? 'task'}-${i + 1}`))));
    const lb = { rtmpPort: await freePort('tcp'), kcpPort: await freePort('udp'), httpPort: await freePort('tcp') };
    const nginxDir = path.join(workDir, 'nginx');
    await mkdir(nginxDir);
    await writeFile(path.join(nginxDir, 'nginx.conf'), nginxConfig(nginxDir, options.lbListen ?? '127.0.0.1', lb, tasks));
    nginx = spawn('nginx', ['-p', nginxDir, '-e', path.join(nginxDir, 'error.log'), '-c', path.join(nginxDir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let nginxErr = '';
    nginx.stderr!.on('data', (d: Buffer) => { nginxErr += d.toString('utf8'); });
    const deadline = Date.now() + 10_000;
    while (!(await fetch(`http://127.0.0.1:${lb.httpPort}/healthz`).then((r) => r.ok, () => false))) {
      if (nginx.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${nginxErr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { tasks, lb, dynamo, s3Endpoint, workDir, close };
  } catch (err) {
    await close();
    throw err;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--tasks');
  const count = at > 0 ? Number(process.argv[at + 1]) : 3;
  if (!Number.isInteger(count) || count < 1) throw new Error('--tasks must be a positive integer');
  const prefixAt = process.argv.indexOf('--id-prefix');
  const cluster = await startLocalCluster({ tasks: count, echoLogs: process.argv.includes('--logs'), ...(prefixAt > 0 ? { idPrefix: process.argv[prefixAt + 1] } : {}) });
  console.log(`local cluster: ${count} tasks behind nginx
  publish   rtmp://127.0.0.1:${cluster.lb.rtmpPort}/live/<name>   (or RTMP over KCP: kcp://127.0.0.1:${cluster.lb.kcpPort})
  play      http://127.0.0.1:${cluster.lb.httpPort}/live/<name>.flv   rtmp://127.0.0.1:${cluster.lb.rtmpPort}/live/<name>
  live list http://127.0.0.1:${cluster.lb.httpPort}/api/live
  tasks     ${cluster.tasks.map((t) => `${t.id} rtmp ${t.rtmpPort} http ${t.httpPort} kcp ${t.kcpPort}`).join('\n            ')}
  HLS       bucket ${CLUSTER_BUCKET} at ${cluster.s3Endpoint}; registry: table ${cluster.dynamo.tableName} at ${cluster.dynamo.endpoint}`);
  const stop = () => void cluster.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
