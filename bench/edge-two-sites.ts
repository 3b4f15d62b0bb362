/**
 * Issue 19's two-site scenario, longer than the test runs it: an origin
 * cluster and an edge cluster (2 tasks, nginx, dynalite and s3rver each) in
 * two network namespaces joined by a 50 ms / 5% loss link; ffmpeg publishes
 * at the origin; an HTTP-FLV viewer at the edge. Prints the edge viewer's
 * extra delay over KCP (with FEC) and over RTMP/TCP side by side, the HLS
 * listing lag between the sites, and the gap when the origin's owner task
 * is killed. Same code as test/edge/two-sites.test.ts (test/helpers/two-sites).
 *
 *   sudo npm run bench:edge -- [--seconds 60]
 *
 * Prints only (no --write-doc).
 */
import { parseArgs } from 'node:util';
import { fmt, markdownTable } from './lib/stats.js';
import { borderReport, runBorderScenario, TEST_PLAN } from '../test/helpers/two-sites/measurements.js';
import { TwoSites, twoSitesUnavailable } from '../test/helpers/two-sites/two-sites.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '60' } } });
const seconds = Number(args.seconds);
if (!Number.isFinite(seconds) || seconds < 5) throw new Error('--seconds must be a number of at least 5');

const unavailable = twoSitesUnavailable({ ignoreLoad: true });
if (unavailable) {
  console.error(`bench:edge: ${unavailable}`);
  process.exit(1);
}

const sites = await TwoSites.start();
const stop = () => void sites.close().then(() => process.exit(130));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
try {
  const run = await runBorderScenario(sites, 'st_bench_edge', { ...TEST_PLAN, calibrationMs: 10_000, measureMs: seconds * 1000 }, 60_000);
  for (const line of borderReport(run)) console.log(line);
  console.log(`\n${markdownTable(
    ['origin → edge', 'extra delay across the crossing, p50 / p95 / p99 / max ms', 'end to end, p50 / p95 / p99 / max ms', 'frames', 'stalls > 500 ms'],
    [run.kcp, run.rtmp].map((r) => [
      r.transport === 'kcp' ? 'RTMP over KCP, FEC 10,3' : 'RTMP over TCP',
      `${fmt(r.hopStats.p50)} / ${fmt(r.hopStats.p95)} / ${fmt(r.hopStats.p99)} / ${fmt(r.hopStats.max)}`,
      `${fmt(r.stats.p50)} / ${fmt(r.stats.p95)} / ${fmt(r.stats.p99)} / ${fmt(r.stats.max)}`,
      `${r.stats.frames} of ${r.expectedFrames}`, `${r.stats.stalls} (${fmt(r.stats.stallMs)} ms)`,
    ]),
  )}`);
} finally {
  await sites.close();
}
process.exit(0);
