/**
 * Test helpers around the media service: start it on ephemeral ports, wait
 * for conditions, and capture its logs in memory so tests can assert on the
 * reasons it logs.
 *
 *   const server = await startTestServer();
 *   t.after(() => server.close());
 *   ffmpeg ... server.rtmpUrl('test')  /  fetch(server.flvUrl('test'))
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { LiveStream } from '@bridgecast/media/hub/live-stream.js';
import type { StreamHub } from '@bridgecast/media/hub/stream-hub.js';
import { silentLogger, type Logger } from '@bridgecast/media/logger.js';
import { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import type { RtmpServerLimits } from '@bridgecast/media/rtmp/rtmp-server.js';
import { startMediaServer, type MediaServer, type StartOptions } from '@bridgecast/media/server.js';

export interface TestServerOptions extends StartOptions {
  /** Overrides of the RTMP limits (short handshake/idle timeouts, small message limits). */
  rtmpLimits?: Partial<RtmpServerLimits>;
}

export interface TestServer extends MediaServer {
  /** rtmp://127.0.0.1:<port>/<app>/<name> */
  rtmpUrl(name: string, app?: string): string;
  /** http://127.0.0.1:<port>/<app>/<name>.flv */
  flvUrl(name: string, app?: string): string;
  /** http://127.0.0.1:<port> */
  readonly httpBase: string;
}

/**
 * Starts the media service on 127.0.0.1 with ephemeral ports, no auth, no
 * HLS, no KCP, a temporary data directory and a silent logger unless given.
 * `close()` stops it and removes the data directory.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const { rtmpLimits, ...startOptions } = options;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-test-'));
  const server = await startMediaServer({
    host: '127.0.0.1', rtmpPort: 0, httpPort: 0, kcpPort: 0, kcpEnabled: false,
    auth: 'none', hlsEnabled: false, drainSeconds: 0, dataDir, logger: silentLogger,
    ...startOptions,
  });
  if (rtmpLimits) {
    // startMediaServer takes no RTMP limits yet; the manager reads `limits` on
    // every accepted connection, so replacing the object applies to new ones.
    (server.rtmp as { limits: RtmpServerLimits }).limits = { ...server.rtmp.limits, ...rtmpLimits };
  }
  const httpBase = `http://127.0.0.1:${server.httpPort}`;
  return {
    ...server,
    httpBase,
    rtmpUrl: (name, app = 'live') => `rtmp://127.0.0.1:${server.rtmpPort}/${app}/${name}`,
    flvUrl: (name, app = 'live') => `${httpBase}/${app}/${name}.flv`,
    close: async (reason?: string) => {
      await server.close(reason);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `condition` every 20 ms until it returns a truthy value; rejects after `timeoutMs`. */
export async function waitFor<T>(condition: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export { freePort } from '@bridgecast/test-support/free-port.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `app/name` is live on the hub (its publisher got NetStream.Publish.Start). */
export function waitForStream(hub: StreamHub, name: string, timeoutMs = 10_000, app = 'live'): Promise<LiveStream> {
  return waitFor(() => hub.get(app, name), timeoutMs, `stream ${app}/${name} to go live`);
}

/** Waits until the live stream has a video keyframe in its GOP cache (a viewer joining now starts at once). */
export function waitForKeyframe(hub: StreamHub, name: string, timeoutMs = 10_000, app = 'live'): Promise<LiveStream> {
  return waitFor(() => {
    const stream = hub.get(app, name);
    return stream && stream.gop.contents.some((p) => p.isKeyframe) ? stream : undefined;
  }, timeoutMs, `a keyframe on ${app}/${name}`);
}

/** One parsed pino log line. */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

export interface MemoryLogger {
  logger: Logger;
  readonly lines: LogLine[];
  /** Resolves with the first line (already logged or yet to come) matching `predicate`. */
  waitForLine(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

/** A pino logger writing JSON lines into memory (level `debug` unless given). */
export function memoryLogger(level = 'debug'): MemoryLogger {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
      callback();
    },
  });
  return {
    logger: pino({ level }, sink),
    lines,
    waitForLine: (predicate, timeoutMs = 5000) =>
      waitFor(() => lines.find(predicate), timeoutMs, 'a matching log line'),
  };
}

/** RTMP play over TCP: resolves true on NetStream.Play.Start, false on a refusal. */
export async function rtmpPlays(server: { rtmpPort: number }, name: string): Promise<boolean> {
  const client = await RtmpClient.connectTcp('127.0.0.1', server.rtmpPort, { app: 'live', timeoutMs: 5000 });
  try {
    await client.play(name);
    return true;
  } catch {
    return false;
  } finally {
    client.close('test done');
  }
}
