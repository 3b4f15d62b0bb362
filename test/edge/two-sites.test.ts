/**
 * Issue 19, end to end on one machine: an origin site and an edge site (each
 * 2 media tasks behind nginx TCP+UDP, its own dynalite and s3rver) in two
 * network namespaces joined by a link with 50 ms one-way delay and 5% random
 * loss (test/helpers/two-sites). ffmpeg publishes at the origin; the edge
 * pulls across the link and an HTTP-FLV viewer plays at the edge's load
 * balancer.
 *
 * - Over KCP (with FEC) the viewer's per-frame extra delay has p99 < 300 ms
 *   and no frame > 500 ms; the edge's HLS live playlist lists each segment
 *   within 1 s of the origin's. The delay asserted is the crossing's: each
 *   frame's arrival at the edge viewer minus its arrival at a viewer of the
 *   origin, over that difference's clean-link median, so a stall of the
 *   publisher or the origin on this shared 2-core machine does not count
 *   against the link. The end-to-end figure (arrival minus media time over
 *   its clean-link median, as bench/lib/frame-delay.ts) is printed beside it.
 *   A window that misses a target is measured again, up to twice (all
 *   printed): a stall of the machine passes, a link or edge that misses the
 *   targets misses them every time.
 * - The same run over RTMP/TCP is measured and printed beside it (not asserted).
 * - SIGKILL of the origin's owner task mid-broadcast: the encoder reconnects
 *   to the origin's load balancer and the edge viewer gets video again on the
 *   connection it has, within KILL_GAP_LIMIT_MS.
 *
 * Needs root (namespaces, TUN, iptables), and a machine not loaded past 4
 * per core (see twoSitesUnavailable); skipped with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { fmt } from '../../bench/lib/stats.js';
import { borderReport, runBorderScenario, TARGETS, TEST_PLAN, type BorderRun } from '../helpers/two-sites/measurements.js';
import { TwoSites, twoSitesUnavailable } from '../helpers/two-sites/two-sites.js';

const STREAM = 'st_border';
/**
 * Kill to video again at the edge viewer: the edge's link to the origin
 * brings nothing for 5 s and is reopened through the origin's balancer
 * (edge-runtime.ts LINK_SILENCE_MS; before that it waited for KCP's 30 s
 * idle timeout: 31 s measured here), the dead task's lease runs out (~4 s)
 * and ffmpeg's retry lands on the survivor. Measured 6.4–7.3 s on this
 * machine under other helpers' load.
 */
const KILL_GAP_LIMIT_MS = 12_000;

const unavailable = twoSitesUnavailable();
let sites: TwoSites | undefined;

before(async () => {
  if (unavailable) return;
  sites = await TwoSites.start();
});
after(async () => { await sites?.close(); });

it('origin and edge sites across a 50 ms / 5% loss link: KCP edge delay and HLS lag, RTMP/TCP beside it, origin owner killed mid-broadcast', { skip: unavailable ?? false, timeout: 290_000 }, async () => {
  const run = await runBorderScenario(sites!, STREAM, TEST_PLAN, KILL_GAP_LIMIT_MS + 15_000);
  for (const line of borderReport(run)) console.log(line);
  try {
    check(run);
  } catch (err) {
    console.log(`the sites' notable log lines:\n${(await sites!.notableLogLines()).join('\n')}`);
    throw err;
  }
});

function check({ kcp, hls, kill }: BorderRun): void {

  assert.ok(kcp.stats.frames >= kcp.expectedFrames * 0.9, `KCP edge viewer got ${kcp.stats.frames} of ${kcp.expectedFrames} frames`);
  assert.ok(kcp.hopStats.p99 < TARGETS.p99Ms, `KCP p99 extra delay across the crossing ${fmt(kcp.hopStats.p99)} ms, must be < ${TARGETS.p99Ms}`);
  assert.ok(kcp.hopStats.max < TARGETS.maxMs, `KCP max extra delay across the crossing ${fmt(kcp.hopStats.max)} ms, must be < ${TARGETS.maxMs}`);
  assert.ok(hls.matched.length >= 5, `only ${hls.matched.length} segments listed at both sites in the window`);
  assert.deepEqual(hls.missingAtEdge, [], 'segments the origin listed that the edge never did');
  for (const lag of hls.matched) assert.ok(lag.lagMs < TARGETS.hlsLagMs, `segment at PTS ${lag.pts} listed at the edge ${fmt(lag.lagMs)} ms after the origin`);
  assert.equal(kill.viewerClosed, null, 'the edge viewer\'s connection must survive the origin task\'s death');
  assert.ok(kill.resumedMs < KILL_GAP_LIMIT_MS, `edge viewer's video not flowing again ${fmt(kill.resumedMs)} ms after the kill`);
  assert.ok(kill.gapMs < KILL_GAP_LIMIT_MS, `edge viewer without video for ${fmt(kill.gapMs)} ms after the kill`);
}
