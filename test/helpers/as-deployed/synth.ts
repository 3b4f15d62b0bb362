/**
 * Synthesis as `cdk deploy` runs it: the CDK CLI runs the app from cdk.json
 * with CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION set (the CLI takes them from
 * the deploying credentials), context from cdk.json and cdk.context.json,
 * and no credentials at all, so any lookup not answered from context fails
 * as it would on a machine that cannot reach AWS. cdk-nag runs as part of
 * it: an unacknowledged finding fails the synthesis.
 *
 * One synthesis per source state is shared by every test file of a run: the
 * cloud assembly is kept under the system temp directory, keyed by a hash of
 * the sources it is made of.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** An account id of the documentation's kind: never a real one. */
export const TEST_ACCOUNT = '123456789012';
export const TEST_REGION = 'ap-northeast-2';

export interface CloudAssembly {
  dir: string;
  template: CfnTemplate;
  /** Everything the CLI printed (bundling, cdk-nag). */
  output: string;
}

export interface CfnTemplate {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: unknown; Metadata?: Record<string, unknown> }>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
  Parameters?: Record<string, unknown>;
}

const SOURCES = ['infra', 'lambdas', 'packages', 'services/media', 'cdk.json', 'cdk.context.json', 'package.json', 'package-lock.json', '.dockerignore'];

async function hashSources(): Promise<string> {
  const hash = createHash('sha256').update(REPO_ROOT);
  const visit = async (rel: string): Promise<void> => {
    const full = path.join(REPO_ROOT, rel);
    if (!existsSync(full)) return;
    const info = await stat(full);
    if (info.isDirectory()) {
      for (const name of (await readdir(full)).sort()) await visit(path.join(rel, name));
    } else {
      hash.update(rel).update(await readFile(full));
    }
  };
  for (const rel of SOURCES) await visit(rel);
  return hash.digest('hex').slice(0, 16);
}

/** Runs `cdk synth` the way `cdk deploy` does; rejects with the CLI's output when it fails. */
export async function synthLikeDeploy(outdir: string, extraArgs: string[] = []): Promise<string> {
  const env = { ...process.env };
  // No credentials of any kind: nothing may be looked up in AWS.
  for (const name of Object.keys(env)) if (/^AWS_/.test(name)) delete env[name];
  Object.assign(env, {
    CDK_DEFAULT_ACCOUNT: TEST_ACCOUNT,
    CDK_DEFAULT_REGION: TEST_REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    CDK_DISABLE_VERSION_CHECK: '1',
  });
  const cli = path.join(REPO_ROOT, 'node_modules/.bin/cdk');
  return new Promise((resolve, reject) => {
    const child = spawn(cli, ['synth', '--quiet', '--no-notices', '--ci', '-o', outdir, ...extraArgs], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`cdk synth exited ${code}:\n${output}`))));
  });
}

/** Assemblies of earlier source states are removed after a day (others' runs may still read recent ones). */
async function pruneOldAssemblies(keep: string): Promise<void> {
  for (const name of await readdir(os.tmpdir())) {
    const dir = path.join(os.tmpdir(), name);
    if (!name.startsWith('bridgecast-cdk-out-') || dir === keep) continue;
    const info = await stat(dir).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 86_400_000) await rm(dir, { recursive: true, force: true });
  }
}

/** A cloud assembly of several stacks (an origin and its edges, or an edge alone). */
export interface MultiStackAssembly {
  dir: string;
  /** Template of each stack, by stack name. */
  templates: Record<string, CfnTemplate>;
  /** Region of each stack (from the manifest's environments). */
  regions: Record<string, string>;
  output: string;
}

const shared = new Map<string, Promise<MultiStackAssembly>>();

/** A lock older than this belongs to a run that died: taken over. */
const STALE_LOCK_MS = 10 * 60_000;

/**
 * Synthesizes into `dir` unless another process of this run is doing the
 * same (test files run in parallel processes): the first takes a lock
 * directory and synthesizes, the others wait for its manifest instead of
 * repeating a CLI synthesis on a 2-core machine.
 */
async function synthesizeOnce(dir: string, extraArgs: string[]): Promise<string> {
  const lock = `${dir}.lock`;
  for (;;) {
    if (existsSync(path.join(dir, 'manifest.json'))) return '(synthesized by another test process)';
    const taken = await mkdir(lock).then(() => true, () => false);
    if (taken) {
      try {
        if (existsSync(path.join(dir, 'manifest.json'))) return '(synthesized by another test process)';
        const scratch = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-synth-'));
        const output = await synthLikeDeploy(scratch, extraArgs);
        await rename(scratch, dir).catch(async () => { await rm(scratch, { recursive: true, force: true }); });
        return output;
      } finally {
        await rm(lock, { recursive: true, force: true });
      }
    }
    const info = await stat(lock).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > STALE_LOCK_MS) await rm(lock, { recursive: true, force: true });
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The cloud assembly of the current sources with these context arguments,
 * synthesized once per source state and shared by every test file of a run.
 */
export function sharedAssemblyOf(name: string, extraArgs: string[] = []): Promise<MultiStackAssembly> {
  let assembly = shared.get(name);
  if (!assembly) {
    assembly = (async () => {
      const key = await hashSources();
      const dir = path.join(os.tmpdir(), `bridgecast-cdk-out-${key}${name === 'origin' ? '' : `-${name}`}`);
      let output = '(reused)';
      if (!existsSync(path.join(dir, 'manifest.json'))) output = await synthesizeOnce(dir, extraArgs);
      const now = new Date();
      await utimes(dir, now, now); // in use: not pruned by another run for a day
      await pruneOldAssemblies(dir);
      const templates: Record<string, CfnTemplate> = {};
      for (const file of (await readdir(dir)).filter((f) => f.endsWith('.template.json'))) {
        templates[file.replace(/\.template\.json$/, '')] = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CfnTemplate;
      }
      const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { artifacts: Record<string, { type: string; environment?: string }> };
      const regions = Object.fromEntries(Object.entries(manifest.artifacts).filter(([, a]) => a.type === 'aws:cloudformation:stack')
        .map(([name, a]) => [name, a.environment!.split('/').pop()!]));
      return { dir, templates, regions, output };
    })();
    shared.set(name, assembly);
  }
  return assembly;
}

/** The cloud assembly of the current sources (the origin alone, cdk.json's context), synthesized once and shared. */
export async function sharedAssembly(): Promise<CloudAssembly> {
  const { dir, templates, output } = await sharedAssemblyOf('origin');
  return { dir, template: templates.Bridgecast!, output };
}

/**
 * Context of the edge deployments the suite synthesizes (docs/edges.md): an
 * origin with a Hong Kong edge in one app, and a China edge on its own.
 */
export const EDGE_DEPLOYMENTS = {
  withHongKongEdge: { name: 'edge-ap-east-1', args: ['-c', 'edgeRegions=ap-east-1'] },
  /** Recipe 1 of docs/edges.md: the origin itself in Hong Kong, an opt-in region. */
  hongKongOrigin: { name: 'origin-ap-east-1', args: ['-c', 'region=ap-east-1'] },
  chinaEdge: {
    name: 'edge-cn-northwest-1',
    origin: 'kcp://media.news.example:1936',
    relaySecretArn: `arn:aws-cn:secretsmanager:cn-northwest-1:${TEST_ACCOUNT}:secret:bridgecast/relay-AbC123`,
    hlsDomainName: 'live.news.example.cn',
    hlsIamCertificateId: 'ASCAEXAMPLECERTID0001',
    get args(): string[] {
      return ['-c', 'role=edge', '-c', 'region=cn-northwest-1', '-c', `origin=${this.origin}`, '-c', `relaySecretArn=${this.relaySecretArn}`,
        '-c', `hlsDomainName=${this.hlsDomainName}`, '-c', `hlsIamCertificateId=${this.hlsIamCertificateId}`];
    },
  },
};
