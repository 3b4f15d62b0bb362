/**
 * kcp-ts as a package: what a bundler takes from it, what `npm pack` ships,
 * and that the shipped files alone (no workspace, no TypeScript sources) talk
 * to ikcp.c.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const run = promisify(execFile);
const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO_NODE_MODULES = path.resolve(PACKAGE_DIR, '../../node_modules');
const ENTRIES = ['src/index.ts', 'src/node/index.ts'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/**
 * The environment for child processes, without the npm_* settings of an enclosing `npm test` (workspace
 * flags and the like) and without NODE_TEST_CONTEXT, which would make a child test run report to our
 * runner instead of printing its results.
 */
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_') && k !== 'NODE_TEST_CONTEXT'));

function npm(args: string[], cwd: string) {
  return run('npm', args, { cwd, env: childEnv, maxBuffer: 16 * 1024 * 1024 });
}

describe('kcp-ts as a package', () => {
  it('bundling its entries takes no file outside packages/kcp-ts/src and only Node built-ins from outside', async () => {
    for (const entry of ENTRIES) {
      const result = await build({ entryPoints: [entry], absWorkingDir: PACKAGE_DIR, bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
      const inputs = Object.keys(result.metafile.inputs);
      assert.ok(inputs.length > 0);
      assert.deepEqual(inputs.filter((file) => !file.startsWith('src/')), [], `${entry} bundles files from outside the package`);
      const external = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
      assert.deepEqual(external.filter((p) => !p.startsWith('node:')), [], `${entry} imports something that is not a Node built-in`);
    }
  });

  it('reads no environment: no process.env in its sources', () => {
    const offenders = filesUnder(path.join(PACKAGE_DIR, 'src')).filter((file) => readFileSync(file, 'utf8').includes('process.env'));
    assert.deepEqual(offenders, []);
  });

  describe('npm pack', () => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'kcp-ts-pack-'));
    after(() => rmSync(work, { recursive: true, force: true }));

    it('gives a tarball of compiled JS and types that installs offline into an empty folder with zero dependencies; the ikcp.c interop test passes from there', async () => {
      // Pack a copy, so the in-place compile of prepack never touches the checkout under test.
      const copy = path.join(work, 'kcp-ts');
      cpSync(PACKAGE_DIR, copy, { recursive: true, filter: (src) => !src.includes(`${path.sep}node_modules`) });
      symlinkSync(REPO_NODE_MODULES, path.join(copy, 'node_modules')); // tsc and @types/node for prepack
      const { stdout: packJson } = await npm(['pack', '--json', '--pack-destination', work], copy);
      const [packed] = JSON.parse(packJson) as { filename: string; files: { path: string }[] }[];
      const shipped = packed!.files.map((f) => f.path).sort();
      assert.deepEqual(shipped.filter((f) => !/^src\/.+\.(js|d\.ts)$/.test(f) && f !== 'package.json' && f !== 'README.md'), [], 'only compiled src/, package.json and README');
      for (const entry of ['src/index.js', 'src/index.d.ts', 'src/node/index.js', 'src/node/index.d.ts', 'README.md']) assert.ok(shipped.includes(entry), `${entry} shipped`);

      const app = path.join(work, 'app');
      mkdirSync(app);
      writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'kcp-ts-consumer', private: true, type: 'module' }));
      await npm(['install', '--offline', '--no-audit', '--no-fund', path.join(work, packed!.filename)], app);
      assert.deepEqual(readdirSync(path.join(app, 'node_modules')).filter((n) => !n.startsWith('.')), ['kcp-ts'], 'zero dependencies');
      const installed = path.join(app, 'node_modules/kcp-ts');
      assert.deepEqual(filesUnder(installed).filter((f) => !f.endsWith('.md') && readFileSync(f, 'utf8').includes('process.env')), []);
      const { stdout: resolved } = await run(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('kcp-ts'), import.meta.resolve('kcp-ts/node'))"], { cwd: app });
      for (const url of resolved.trim().split(' ')) assert.ok(fileURLToPath(url).startsWith(installed + path.sep) && url.endsWith('.js'), `${url} is the installed JS`);

      // The interop test as it is in the repository, run against the installed package: node-kcp (ikcp.c)
      // as the peer, tsx to load the test file, the lossy proxy, all linked in as test-only tools.
      for (const [name, target] of [['node-kcp', 'node-kcp'], ['tsx', 'tsx'], ['@bridgecast/test-support', '@bridgecast/test-support']]) {
        mkdirSync(path.dirname(path.join(app, 'node_modules', name)), { recursive: true });
        symlinkSync(path.join(REPO_NODE_MODULES, target), path.join(app, 'node_modules', name));
      }
      mkdirSync(path.join(app, 'test/helpers'), { recursive: true });
      cpSync(path.join(PACKAGE_DIR, 'test/kcp-interop.test.ts'), path.join(app, 'test/kcp-interop.test.ts'));
      cpSync(path.join(PACKAGE_DIR, 'test/helpers/reference-kcp.ts'), path.join(app, 'test/helpers/reference-kcp.ts'));
      const { stdout: report } = await run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', 'test/kcp-interop.test.ts'], { cwd: app, env: childEnv, maxBuffer: 16 * 1024 * 1024 });
      const count = (label: string) => Number(new RegExp(`^# ${label} (\\d+)$`, 'm').exec(report)?.[1]);
      assert.equal(count('fail'), 0, report);
      assert.ok(count('pass') >= 6, `interop tests passed from the tarball: ${count('pass')}`);
    });
  });
});
