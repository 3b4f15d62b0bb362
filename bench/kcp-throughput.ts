/**
 * `npm run bench:kcp`: kcp-ts's own throughput benchmark (ours against
 * ikcp.c, packages/kcp-ts/bench/throughput.ts), with the machine line this
 * repository's benchmark docs carry; `-- --write-doc` replaces its section
 * in docs/benchmarks.md. BENCH_MB and BENCH_RUNS pass through.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine, writeDocSection } from './lib/report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const output = execFileSync(process.execPath, ['--import', 'tsx', 'packages/kcp-ts/bench/throughput.ts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const [heading, method, ...table] = output.trim().split('\n\n');
const settings = ['BENCH_MB', 'BENCH_RUNS'].filter((name) => process.env[name]).map((name) => `${name}=${process.env[name]}`);
const command = `Machine: ${machineLine()}. Command: \`npm run bench:kcp${settings.length > 0 ? ` (${settings.join(' ')})` : ''}\``;
const section = [heading, method, command, ...table].join('\n\n');
console.log(`\n${section}\n`);
if (process.argv.includes('--write-doc')) writeDocSection('kcp', section);
else console.error('(not written to docs/benchmarks.md; add --write-doc to replace the committed numbers)');
