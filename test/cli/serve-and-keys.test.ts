/**
 * The CLI as a new user meets it, through the real `services/media/bin/bridgecast.js` in
 * child processes: --help on every command without side effects, every
 * invalid setting refused at start in one line (variable, value, what is
 * allowed), a busy port and a data directory held by another instance in
 * one line, and `keys` finding the local server through the same
 * HTTP_PORT as `serve`, with `keys recordings` listing what is on disk.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { killAllChildren, startPublisher } from '../helpers/ffmpeg.js';
import { freePort, waitFor } from '../helpers/media-server.js';

const BIN = fileURLToPath(new URL('../../services/media/bin/bridgecast.js', import.meta.url));
const dirs: string[] = [];
const running = new Set<ReturnType<typeof spawn>>();

after(async () => {
  for (const child of running) child.kill('SIGKILL');
  await killAllChildren();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-cli-'));
  dirs.push(dir);
  return dir;
}

/** Environment of a serve that binds only ephemeral loopback ports, under `dataDir`. */
const quiet = (dataDir: string, extra: Record<string, string> = {}) => ({
  HOST: '127.0.0.1', RTMP_PORT: '0', KCP_PORT: '0', HTTP_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...extra,
});

/** Starts `bridgecast <args>`; `done` resolves with the exit code and both outputs. */
function bridgecast(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH!, HOME: os.tmpdir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('close', (code) => {
    running.delete(child);
    resolve({ code, stdout, stderr });
  }));
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

describe('bridgecast CLI', () => {
  it('answers --help on every command, and serve --help starts nothing', async () => {
    const dataDir = path.join(await tempDir(), 'never-created');
    for (const args of [['--help'], ['serve', '--help'], ['keys', '--help'], ['kcp-push', '--help'], ['kcp-pull', '--help']]) {
      const { code, stdout } = await bridgecast(args, { DATA_DIR: dataDir }).done;
      assert.equal(code, 0, args.join(' '));
      assert.match(stdout, /^Usage: bridgecast/m, args.join(' '));
    }
    assert.equal(existsSync(dataDir), false, 'serve --help did not start a server');
  });

  it('refuses every invalid setting at start in one line: variable, value, what is allowed', async () => {
    const dataDir = await tempDir();
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ RTMP_PORT: '99999' }, /^bridgecast: RTMP_PORT="99999" is not valid: an integer from 0 to 65535\n$/],
      [{ LOG_LEVEL: 'verbose' }, /^bridgecast: LOG_LEVEL="verbose" is not valid: one of fatal, error, warn, info, debug, trace, silent\n$/],
      [{ HLS_SEGMENT_SECONDS: '0' }, /^bridgecast: HLS_SEGMENT_SECONDS="0" is not valid: an integer from 1 to 60\n$/],
      [{ HLS_WINDOW: '0' }, /^bridgecast: HLS_WINDOW="0" is not valid: an integer from 3 to 1000\n$/],
      [{ AUTH: 'maybe' }, /^bridgecast: AUTH="maybe" is not valid: one of keys, none\n$/],
      [{ KCP_MTU: '10' }, /^bridgecast: KCP_MTU="10" is not valid: an integer from 100 to 1500\n$/],
      [{ RECORDINGS_MAX_BYTES: '-1' }, /^bridgecast: RECORDINGS_MAX_BYTES="-1" is not valid: an integer of at least 0\n$/],
      [{ HLS_BASE_URL: 'cdn.example.com' }, /^bridgecast: HLS_BASE_URL="cdn.example.com" is not valid: an http:\/\/ or https:\/\/ URL\n$/],
      [{ HOST: '192.0.2.1', AUTH: 'none' }, /^bridgecast: KCP \(UDP\): HOST is not an address of this machine/],
    ];
    for (const [env, expected] of cases) {
      const { code, stderr } = await bridgecast(['serve'], quiet(dataDir, env)).done;
      assert.equal(code, 2, JSON.stringify(env));
      assert.match(stderr, expected);
    }
  });

  it('says in one line that a port is busy or the data directory is held by another instance', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as net.AddressInfo).port;
    try {
      const portClash = await bridgecast(['serve'], quiet(await tempDir(), { AUTH: 'none', KCP: 'false', RTMP_PORT: String(busyPort) })).done;
      assert.equal(portClash.code, 2);
      assert.equal(portClash.stderr, `bridgecast: RTMP (TCP) port ${busyPort} is already in use (another bridgecast serve?): stop that program or set RTMP_PORT\n`);
    } finally {
      busy.close();
    }

    const dataDir = await tempDir();
    const first = bridgecast(['serve'], quiet(dataDir));
    await waitFor(() => first.stdout().includes('Bridgecast is running'), 30_000, 'the first server');
    const second = await bridgecast(['serve'], quiet(dataDir)).done;
    assert.equal(second.code, 2);
    assert.equal(second.stderr, `bridgecast: DATA_DIR ${dataDir} is in use by another bridgecast (pid ${first.child.pid}): stop it, or give this one its own DATA_DIR\n`);
    first.child.kill('SIGTERM');
    assert.equal((await first.done).code, 0);
    // Its lock is gone with it; a lock left by a killed process is taken over.
    const third = bridgecast(['serve'], quiet(dataDir));
    await waitFor(() => third.stdout().includes('Bridgecast is running'), 30_000, 'a server on the freed data directory');
    third.child.kill('SIGKILL');
    await third.done;
    const fourth = bridgecast(['serve'], quiet(dataDir));
    await waitFor(() => fourth.stdout().includes('Bridgecast is running'), 30_000, 'a server after a SIGKILLed one');
    fourth.child.kill('SIGTERM');
    await fourth.done;
  });

  it('keys finds the server through the same HTTP_PORT, and keys recordings lists the recordings on disk', async () => {
    const dataDir = await tempDir();
    const httpPort = String(await freePort());
    const rtmpPort = String(await freePort());
    const env = quiet(dataDir, { HTTP_PORT: httpPort, RTMP_PORT: rtmpPort, KCP: 'false' });
    const server = bridgecast(['serve'], env);
    await waitFor(() => server.stdout().includes('Bridgecast is running'), 30_000, 'the server');
    const banner = server.stdout();
    const key = /Stream Key: +(sk_[\w-]+)/.exec(banner)?.[1];
    const streamId = /Watch: +http:\/\/127\.0\.0\.1:\d+\/watch\/(st_\w+)/.exec(banner)?.[1];
    assert.ok(key && streamId, `the banner names the demo key and its watch page:\n${banner}`);

    const listed = await bridgecast(['keys', 'list'], { HTTP_PORT: httpPort }).done;
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${streamId} +active .* demo`));

    const publisher = startPublisher(`rtmp://127.0.0.1:${rtmpPort}/live/${key}`, { seconds: 3 });
    assert.equal((await publisher.exited).code, 0, publisher.stderr());
    const recordings = await waitFor(async () => {
      const r = await bridgecast(['keys', 'recordings', streamId, '--json'], { HTTP_PORT: httpPort }).done;
      const items = r.code === 0 ? (JSON.parse(r.stdout) as { items: Array<{ status: string; durationSeconds: number; playback: { hls: string } }> }).items : [];
      return items.length === 1 && items[0]!.status === 'complete' ? items : null;
    }, 15_000, 'the recording to be listed as complete');
    assert.ok(Math.abs(recordings[0]!.durationSeconds - 3) < 0.3, `${recordings[0]!.durationSeconds} s`);
    const vod = await fetch(recordings[0]!.playback.hls);
    assert.equal(vod.status, 200, recordings[0]!.playback.hls);
    assert.match(await vod.text(), /#EXT-X-PLAYLIST-TYPE:VOD[\s\S]*#EXT-X-ENDLIST/);
    const text = await bridgecast(['keys', 'recordings', streamId], { HTTP_PORT: httpPort }).done;
    assert.match(text.stdout, /complete +\d/);

    const elsewhere = await bridgecast(['keys', 'list'], { HTTP_PORT: String(await freePort()) }).done;
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.stderr, /cannot reach the stream-keys API at http:\/\/127\.0\.0\.1:\d+\/api: .*same HTTP_PORT/);
    server.child.kill('SIGTERM');
    await server.done;
  });
});
