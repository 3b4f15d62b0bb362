/**
 * What each deployable carries, for the README and issue notes:
 *   node --import tsx scripts/sizes.ts [repo-root]
 * - each Lambda bundled as infra/lib/lambda-function.ts has the CDK bundle it
 *   (esbuild, CJS, node24, the AWS SDK bundled, minify off): bytes and modules;
 * - the KCP server entry bundled on its own: modules, and how many come from
 *   outside kcp-ts;
 * - the media image's production dependencies: `npm ci --omit=dev` as the
 *   Dockerfile runs it (offline, from the npm cache), bytes and packages.
 * Point it at an older checkout (git archive) to compare layouts.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));

async function bundle(entry: string, cdkStyle: boolean) {
  const result = await build({
    entryPoints: [path.join(root, entry)], absWorkingDir: root, bundle: true, platform: 'node', target: 'node24', write: false, metafile: true, logLevel: 'silent',
    outdir: path.join(os.tmpdir(), 'sizes-out'), format: cdkStyle ? 'cjs' : 'esm', sourcemap: cdkStyle ? 'external' : false,
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'))!;
  const inputs = Object.keys(result.metafile.inputs);
  return { bytes: js.contents.length, inputs, own: inputs.filter((i) => !i.includes('node_modules')) };
}

for (const lambda of ['stream-keys', 'autoscaler', 'recording']) {
  const b = await bundle(`lambdas/${lambda}/src/index.ts`, true);
  console.log(`lambda ${lambda}: ${b.bytes} bytes, ${b.inputs.length} modules (${b.own.length} of ours, ${b.inputs.length - b.own.length} from node_modules)`);
}

const kcpEntry = ['packages/kcp-ts/src/node/index.ts', 'services/media/src/kcp/endpoint.ts'].find((e) => existsSync(path.join(root, e)))!;
const kcp = await bundle(kcpEntry, false);
const kcpDir = kcpEntry.startsWith('packages/') ? 'packages/kcp-ts/' : 'services/media/src/kcp/';
console.log(`kcp server entry (${kcpEntry}): ${kcp.inputs.length} modules, ${kcp.inputs.filter((i) => !i.startsWith(kcpDir)).length} outside ${kcpDir}, ${kcp.bytes} bytes`);

const work = mkdtempSync(path.join(os.tmpdir(), 'sizes-image-'));
try {
  // The manifests the Dockerfile copies: the root's and every workspace's (an older single-package layout has only the root's).
  const workspaces = ['packages', 'services', 'lambdas'].flatMap((dir) => (existsSync(path.join(root, dir)) ? readdirSync(path.join(root, dir)).map((n) => `${dir}/${n}/package.json`) : []));
  for (const file of ['package.json', 'package-lock.json', 'infra/package.json', ...workspaces].filter((f) => existsSync(path.join(root, f)))) cpSync(path.join(root, file), path.join(work, file));
  const workspace = existsSync(path.join(root, 'services/media/package.json')) ? ['-w', 'services/media'] : [];
  execFileSync('npm', ['ci', ...workspace, '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--offline'], { cwd: work, stdio: 'ignore' });
  const du = Number(execFileSync('du', ['-sb', 'node_modules'], { cwd: work, encoding: 'utf8' }).split('\t')[0]);
  const names = readdirSync(path.join(work, 'node_modules')).flatMap((n) => (n.startsWith('@') ? readdirSync(path.join(work, 'node_modules', n)).map((m) => `${n}/${m}`) : n.startsWith('.') ? [] : [n]));
  console.log(`media image node_modules: ${du} bytes, ${names.length} top-level packages`);
  if (process.env.LIST) console.log(names.join('\n'));
} finally {
  rmSync(work, { recursive: true, force: true });
}
