/**
 * The servers under test, each started as a child process (so /proc gives
 * its own CPU and memory): Bridgecast (`bridgecast serve`), node-media-server
 * (npm) and nginx with the RTMP module (Debian package). `wrap` runs the
 * command through a prefix such as `ip netns exec NS`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@bridgecast/test-support/free-port.js';
import { sleep } from './stats.js';

export type ServerKind = 'bridgecast' | 'nms' | 'nginx';

export interface RunningServer {
  readonly kind: ServerKind;
  readonly pid: number;
  readonly host: string;
  readonly rtmpPort: number;
  /** HTTP-FLV port; undefined where the server has none (nginx-rtmp). */
  readonly httpPort?: number;
  readonly kcpPort?: number;
  /** The server's working directory (Bridgecast's DATA_DIR); removed by stop(). */
  readonly dataDir: string;
  /** The last few KiB the server printed (Bridgecast's log at LOG_LEVEL warn): why it died or failed a client, if it did. */
  logTail(): string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  host?: string;
  rtmpPort?: number;
  httpPort?: number;
  kcpPort?: number;
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'bc-origin']. */
  wrap?: string[];
  /** Extra environment for Bridgecast (RELAY_ORIGIN, KCP_FEC...). */
  env?: Record<string, string>;
}

// A benchmark that dies (Ctrl-C, an exception) must not leave servers behind.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

const NMS_LAUNCHER = `
const path = require('node:path');
const NodeMediaServer = require('node-media-server');
const [bind, rtmpPort, httpPort, dataDir] = process.argv.slice(1);
const nms = new NodeMediaServer({ bind, rtmp: { port: Number(rtmpPort) }, http: { port: Number(httpPort) }, store: { path: dataDir } });
require('node-media-server/src/core/logger.js').level = 'error';
nms.run();
`;

export async function startServer(kind: ServerKind, options: ServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const rtmpPort = options.rtmpPort ?? await freePort();
  const httpPort = kind === 'nginx' ? undefined : options.httpPort ?? await freePort();
  const kcpPort = kind === 'bridgecast' ? options.kcpPort ?? rtmpPort : undefined;
  const workDir = mkdtempSync(path.join(os.tmpdir(), `bench-${kind}-`));
  let command: string[];
  let env: NodeJS.ProcessEnv = process.env;
  if (kind === 'bridgecast') {
    command = [process.execPath, path.resolve('services/media/bin/bridgecast.js'), 'serve'];
    env = {
      ...process.env, AUTH: 'none', HOST: host, RTMP_PORT: String(rtmpPort), HTTP_PORT: String(httpPort),
      KCP_PORT: String(kcpPort), DATA_DIR: workDir, HLS: 'false', LOG_LEVEL: 'warn', DRAIN_SECONDS: '0',
      // Every benchmark viewer comes from one address; the other servers have no such cap.
      MAX_CONNECTIONS_PER_IP: '100000', ...options.env,
    };
  } else if (kind === 'nms') {
    command = [process.execPath, '-e', NMS_LAUNCHER, host, String(rtmpPort), String(httpPort), workDir];
  } else {
    const conf = path.join(workDir, 'nginx.conf');
    writeFileSync(conf, nginxConf(host, rtmpPort, workDir));
    command = ['nginx', '-c', conf, '-p', workDir, '-g', 'daemon off;'];
  }
  const full = [...(options.wrap ?? []), ...command];
  const child = spawn(full[0]!, full.slice(1), { env, cwd: kind === 'nms' ? path.resolve('.') : undefined, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let log = '';
  const keep = (d: Buffer) => { log = (log + d.toString()).slice(-8000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(host, rtmpPort, child, options.wrap);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${kind} did not start: ${(err as Error).message}\n${log}`);
  }
  return {
    kind, pid: child.pid!, host, rtmpPort, httpPort, kcpPort, dataDir: workDir,
    logTail: () => log,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      child.kill('SIGKILL');
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

function nginxConf(host: string, rtmpPort: number, workDir: string): string {
  return `load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
pid ${workDir}/nginx.pid;
error_log ${workDir}/error.log warn;
events { worker_connections 4096; }
rtmp {
  server {
    listen ${host}:${rtmpPort};
    chunk_size 4096;
    application live { live on; }
  }
}
`;
}

/** Polls until something accepts TCP on host:port; inside a namespace, polls through the same wrapper. */
async function waitForPort(host: string, port: number, child: ChildProcess, wrap?: string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    if (await canConnect(host, port, wrap)) return;
    await sleep(200);
  }
  throw new Error(`nothing listening on ${host}:${port}`);
}

function canConnect(host: string, port: number, wrap?: string[]): Promise<boolean> {
  if (wrap?.length) {
    const probe = spawn(wrap[0]!, [...wrap.slice(1), 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { stdio: 'ignore' });
    return new Promise((resolve) => probe.once('exit', (code) => resolve(code === 0)));
  }
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
