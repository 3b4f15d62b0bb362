/**
 * An edge as deployed (docs/edges.md), run here with the as-deployed harness
 * (test/helpers/as-deployed/): the origin stack and the China edge stack,
 * each synthesized as `cdk deploy` does it, each with its own DynamoDB- and
 * S3-compatible stores (dynalite, s3rver) behind its own proxy enforcing
 * that stack's synthesized IAM policies. The media tasks run with the
 * image's CMD and their task definition's environment; the only change is
 * the edge's EDGE_ORIGIN / EDGE_ORIGIN_API, which name the origin's NLB in
 * AWS and the local origin task here. Both get the same RELAY_SECRET, as
 * the replica or the operator's copy gives them.
 *
 * What it shows: the edge starts in edge mode from its task definition
 * alone, pulls a stream published at the origin across KCP with FEC and
 * writes it as HLS to its own bucket, and no AWS call of either side (leases,
 * link records, HLS, task protection) is refused by its role's policy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { lavfiEncodeArgs } from '../helpers/ffmpeg.js';
import { parseMediaPlaylist } from '../helpers/hls-playlist.js';
import { AsDeployedStack, httpApiEvent, type RunningTask } from '../helpers/as-deployed/deployment.js';
import { assertNothingRefused, until } from '../helpers/as-deployed/checks.js';
import { EDGE_DEPLOYMENTS, sharedAssemblyOf } from '../helpers/as-deployed/synth.js';

const CHINA = EDGE_DEPLOYMENTS.chinaEdge;
const EDGE_STACK = 'Bridgecast-edge-cn-northwest-1';
let origin: AsDeployedStack;
let edge: AsDeployedStack;
let originTask: RunningTask;
let edgeTask: RunningTask;

before(async () => {
  const china = await sharedAssemblyOf(CHINA.name, CHINA.args);
  [origin, edge] = await Promise.all([
    AsDeployedStack.start(),
    AsDeployedStack.start({ assembly: { dir: china.dir, template: china.templates[EDGE_STACK]!, output: china.output }, stackName: EDGE_STACK, region: 'cn-northwest-1' }),
  ]);
});
after(async () => { await Promise.all([origin?.close(), edge?.close()]); });

describe('an edge as deployed, pulling from an origin as deployed', () => {
  it('the edge task starts in edge mode from its task definition, with its own table and bucket', async () => {
    const env = edge.mediaContainer().environment;
    assert.equal(env.STREAMS_TABLE, edge.table);
    assert.equal(env.HLS_BUCKET, edge.bucket);
    assert.equal(env.EDGE_ORIGIN, CHINA.origin, 'in AWS: the origin\'s NLB');
    originTask = await origin.startTask();
    edgeTask = await edge.startTask({ EDGE_ORIGIN: `kcp://127.0.0.1:${originTask.kcpPort}`, EDGE_ORIGIN_API: `http://127.0.0.1:${originTask.httpPort}` });
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(edgeTask.exitCode, null, edgeTask.output.join('\n'));
    assert.equal(edgeTask.env.KCP_FEC, originTask.env.KCP_FEC, 'both ends of the KCP link use the same FEC');
    assertNothingRefused(origin);
    assertNothingRefused(edge);
  });

  it('a stream published at the origin reaches the edge\'s bucket as HLS; no call of either side is refused', async (t) => {
    const response = await origin.invoke<{ statusCode: number; body: string }>('Bridgecast stream keys', httpApiEvent('POST', '/streams', { name: 'Seoul desk' }));
    assert.equal(response.statusCode, 201, response.body);
    const { streamId, streamKey } = JSON.parse(response.body) as { streamId: string; streamKey: string };
    const ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', ...lavfiEncodeArgs(12), '-f', 'flv', `rtmp://127.0.0.1:${originTask.rtmpPort}/live/${streamKey}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    ffmpeg.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => ffmpeg.on('exit', resolve));
    try {
      const playlist = await until('the edge\'s live playlist with two segments', async () => {
        const res = await fetch(`${edge.s3Url}/${edge.bucket}/live/${streamId}/index.m3u8`);
        if (!res.ok) return undefined;
        const parsed = parseMediaPlaylist(await res.text());
        return parsed.segments.length >= 2 ? parsed : undefined;
      }, 40_000);
      t.diagnostic(`edge playlist: ${playlist.segments.length} segments, first ${playlist.segments[0]!.uri}`);
      const segment = await fetch(new URL(playlist.segments[0]!.uri, `${edge.s3Url}/${edge.bucket}/live/${streamId}/index.m3u8`));
      assert.ok(segment.ok, 'the segment the edge\'s playlist names is in the edge\'s bucket');
      assert.ok((await segment.arrayBuffer()).byteLength > 10_000);
    } finally {
      assert.equal(await exited, 0, stderr);
    }
    assert.equal(edgeTask.exitCode, null, edgeTask.output.join('\n'));
    assertNothingRefused(origin);
    assertNothingRefused(edge);
    for (const task of [originTask, edgeTask]) {
      assert.ok(!task.output.join('\n').includes(task.env.RELAY_SECRET!), 'the relay secret is in no log line');
    }
  });
});
