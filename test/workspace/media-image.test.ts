/**
 * The media image's contents without Docker: the Dockerfile's build step
 * (tsc -p services/media/tsconfig.build.json) laid out as the image lays it
 * out, with the workspace packages linked the way `npm ci -w services/media`
 * links them, then started with plain node (no tsx, no .ts anywhere).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MANIFESTS = ['package.json', 'packages/kcp-ts', 'packages/contracts', 'packages/test-support', 'services/media', 'lambdas/stream-keys', 'lambdas/autoscaler', 'lambdas/recording', 'infra'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/** node_modules as the image has it: third-party packages (linked from the checkout), workspace packages linked to the image's own folders. */
function linkNodeModules(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from)) {
    if (entry.startsWith('.')) continue;
    const source = path.join(from, entry);
    if (entry.startsWith('@') && !lstatSync(source).isSymbolicLink()) {
      linkNodeModules(source, path.join(to, entry));
      continue;
    }
    const workspaceLink = lstatSync(source).isSymbolicLink() && !path.resolve(from, readlinkSync(source)).includes(`${path.sep}node_modules${path.sep}`);
    symlinkSync(workspaceLink ? readlinkSync(source) : source, path.join(to, entry));
  }
}

describe('media image', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'bridgecast-image-'));
  const app = path.join(work, 'app');
  after(() => rmSync(work, { recursive: true, force: true }));

  it('holds only the media service and the packages it imports, compiled, and starts from them with plain node', async () => {
    for (const item of MANIFESTS) {
      const file = item.endsWith('.json') ? item : path.join(item, 'package.json');
      mkdirSync(path.dirname(path.join(app, file)), { recursive: true });
      cpSync(path.join(ROOT, file), path.join(app, file));
    }
    await promisify(execFile)(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'services/media/tsconfig.build.json', '--outDir', app], { cwd: ROOT });
    cpSync(path.join(ROOT, 'services/media/bin'), path.join(app, 'services/media/bin'), { recursive: true });
    cpSync(path.join(ROOT, 'services/media/web'), path.join(app, 'services/media/web'), { recursive: true });

    const code = filesUnder(app).filter((f) => f.endsWith('.js') && !f.startsWith('services/media/bin/') && !f.startsWith('services/media/web/'));
    assert.deepEqual(filesUnder(app).filter((f) => f.endsWith('.ts')), [], 'no TypeScript sources');
    const packagesWithCode = [...new Set(code.map((f) => f.split('/').slice(0, 2).join('/')))].sort();
    assert.deepEqual(packagesWithCode, ['lambdas/stream-keys', 'packages/contracts', 'packages/kcp-ts', 'services/media']);
    assert.ok(!code.includes('lambdas/stream-keys/src/index.js'), 'the stream-keys Lambda entry is not in the image, only its library');

    linkNodeModules(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'));
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', RTMP_PORT: '0', KCP_PORT: '0', HTTP_PORT: '0', DATA_DIR: path.join(work, 'data'), LOG_LEVEL: 'warn', EMF: 'false' };
    const child = spawn(process.execPath, ['services/media/bin/bridgecast.js', 'serve'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 30_000;
      let httpPort: string | undefined;
      while (!(httpPort = /Watch: +http:\/\/127\.0\.0\.1:(\d+)\//.exec(output)?.[1]) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      assert.ok(httpPort, `the compiled service did not start:\n${output}`);
      const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { status: string }).status, 'ok');
      // The embedded stream-keys API (stream-keys library + contracts' table schema on the local table) answers too.
      const streams = await fetch(`http://127.0.0.1:${httpPort}/api/streams`);
      assert.equal(streams.status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    assert.ok(existsSync(path.join(app, 'services/media/src/cli.js')));
  });
});
