/**
 * An origin and an edge on one machine, each a real cluster
 * (scripts/local-cluster.ts: 2 media tasks, its own dynalite and s3rver,
 * nginx balancing TCP and UDP): the edge's tasks run with EDGE_ORIGIN at the
 * origin's balancer (KCP with FEC) and the origin's RELAY_SECRET. ffmpeg
 * publishes at the origin; nobody watches at the edge at first
 * (EDGE_MODE=all), yet the stream crosses once and the edge writes its HLS.
 * The link here is loopback; the impaired two-site run is the two-site e2e.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { hlsKeys } from '@bridgecast/contracts';
import { relayListAuthorization } from '@bridgecast/media/relay/relay-token.js';
import { CLUSTER_BUCKET, startLocalCluster, type ClusterTask, type LocalCluster } from '../../scripts/local-cluster.js';
import { killAllChildren, startPublisher, type ChildRun } from '../helpers/ffmpeg.js';
import { sleep, waitFor } from '../helpers/media-server.js';
import { flvViewer, rtmpViewer, type Viewer } from '../helpers/stream-viewers.js';

const NAME = 'st_edged';
const EDGE = 'ap-east-1';
const SECRET = randomBytes(32).toString('hex');
let origin: LocalCluster;
let edge: LocalCluster;
let encoder: ChildRun | undefined;
const viewers: Viewer[] = [];

before(async () => {
  // FEC on both ends: the origin's KCP endpoint and the edge's link must agree.
  origin = await startLocalCluster({ tasks: 2, idPrefix: 'origin', env: { RELAY_SECRET: SECRET, KCP_FEC: '10,3' } });
  edge = await startLocalCluster({
    tasks: 2, idPrefix: 'edge',
    env: {
      RELAY_SECRET: SECRET, KCP_FEC: '10,3', EDGE_NAME: EDGE,
      EDGE_ORIGIN: `kcp://127.0.0.1:${origin.lb.kcpPort}`, EDGE_ORIGIN_API: `http://127.0.0.1:${origin.lb.httpPort}`,
    },
  });
});
after(async () => {
  for (const v of viewers) v.close();
  await killAllChildren();
  await edge?.close();
  await origin?.close();
});

interface LinkSide { task: string; state: string; rttMs: number | null; lossRatio: number | null; retransmitRatio: number | null; fecRecovered: number | null; mediaDelayMs: number | null; mediaDelayMaxMs: number | null }
interface LinkView { edge: string; state: string; origin: LinkSide | null; edgeSide: LinkSide | null }
interface Listed { name: string; task: { id: string }; edgeLinks?: LinkView[]; upstream?: LinkView | null }

async function liveList(port: number): Promise<Listed[]> {
  return ((await (await fetch(`http://127.0.0.1:${port}/api/live`)).json()) as { streams: Listed[] }).streams;
}

function edgeS3(): S3Client {
  return new S3Client({ endpoint: edge.s3Endpoint, region: 'local', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
}

async function edgePlaylist(s3: S3Client): Promise<string | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: CLUSTER_BUCKET, Key: hlsKeys.livePlaylist(NAME) }));
    return await out.Body!.transformToString();
  } catch {
    return undefined;
  }
}

/** Sum of a metric's samples matching `labels` (substring of the label set) over the given tasks. */
async function metricSamples(tasks: ClusterTask[], name: string, labels: string): Promise<{ task: string; value: number; line: string }[]> {
  const samples: { task: string; value: number; line: string }[] = [];
  for (const t of tasks) {
    if (t.child.exitCode !== null || t.child.signalCode !== null) continue;
    const text = await (await fetch(`http://127.0.0.1:${t.httpPort}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name}{`) && line.includes(labels)) samples.push({ task: t.id, value: Number(line.slice(line.lastIndexOf(' ') + 1)), line });
    }
  }
  return samples;
}

it('every live stream of the origin crosses once to a 2-task edge cluster, unwatched, and is served there; the edge survives its owner task', { timeout: 240_000 }, async () => {
  encoder = startPublisher(`rtmp://127.0.0.1:${origin.lb.rtmpPort}/live/${NAME}`, { seconds: 300, gopSeconds: 1 });
  const s3 = edgeS3();

  // Nobody watches at the edge: the stream arrives anyway, and its HLS is written to the edge's bucket.
  const upstream = await waitFor(async () => (await liveList(edge.lb.httpPort)).find((s) => s.name === NAME && s.upstream?.edgeSide?.state === 'up')?.upstream, 30_000, 'the stream at the edge with its upstream link up');
  const carrier = edge.tasks.find((t) => t.id === upstream!.edgeSide!.task)!;
  const other = edge.tasks.find((t) => t !== carrier)!;
  const playlist = await waitFor(async () => {
    const text = await edgePlaylist(s3);
    return text && (text.match(/\.ts/g) ?? []).length >= 2 ? text : undefined;
  }, 30_000, 'the edge\'s live playlist with 2 segments');
  console.log(`edge HLS written by ${carrier.id} with no viewer at the edge: ${(playlist.match(/\.ts/g) ?? []).length} segments listed`);

  // Exactly one link crosses: one origin task serves it, one edge task pulls it. Which tasks hold a link
  // is the point here, not its health: on a loaded machine a link can read 'behind' (media over 1 s late).
  await sleep(2500);
  const holding = (samples: { task: string; value: number; line: string }[]) =>
    samples.filter((s) => s.value === 1 && !s.line.includes('state="down"')).map((s) => ({ task: s.task, state: /state="(\w+)"/.exec(s.line)?.[1] }));
  const servedAtOrigin = holding(await metricSamples(origin.tasks, 'bridgecast_edge_link_state', `edge="${EDGE}",stream="live/${NAME}",side="origin"`));
  const pulledAtEdge = holding(await metricSamples(edge.tasks, 'bridgecast_edge_link_state', `stream="live/${NAME}",side="edge"`));
  console.log(`links: served by origin tasks ${JSON.stringify(servedAtOrigin)}, pulled by edge tasks ${JSON.stringify(pulledAtEdge)}`);
  assert.equal(servedAtOrigin.length, 1, 'one origin task serves the edge one link');
  assert.deepEqual(pulledAtEdge.map((s) => s.task), [carrier.id], 'only the lease holder pulls from the origin');

  // Viewers on either edge task get video (the other task by the cluster pull from the carrier).
  const onCarrier = await rtmpViewer(`rtmp://127.0.0.1:${carrier.rtmpPort}`, NAME);
  const onOther = await rtmpViewer(`rtmp://127.0.0.1:${other.rtmpPort}`, NAME);
  const flvOnOther = flvViewer(other.httpPort, NAME);
  const kcpOnBalancer = await rtmpViewer(`kcp://127.0.0.1:${edge.lb.kcpPort}`, NAME).catch(() => undefined);
  viewers.push(onCarrier, onOther, flvOnOther, ...(kcpOnBalancer ? [kcpOnBalancer] : []));
  await waitFor(() => [onCarrier, onOther, flvOnOther].every((v) => v.firstVideoAt !== null), 15_000, 'video on both edge tasks');

  // The origin's /api/live (any task: the records are cluster-wide) shows the edge's link with both sides' figures.
  for (const task of origin.tasks) {
    const link = await waitFor(async () => (await liveList(task.httpPort)).find((s) => s.name === NAME)?.edgeLinks?.find((l) => l.edge === EDGE && l.origin && l.edgeSide), 10_000, `the edge link in ${task.id}'s /api/live`);
    // up, or behind when this shared machine stalls a process for over a second (seen at a load of 15): never down.
    assert.ok(link.state === 'up' || link.state === 'behind', `link state ${link.state}`);
    assert.ok(link.origin!.rttMs !== null && link.origin!.rttMs < 200, `origin-side RTT ${link.origin!.rttMs} ms`);
    assert.ok(link.origin!.retransmitRatio !== null && link.origin!.retransmitRatio < 0.5);
    assert.ok(link.edgeSide!.mediaDelayMs !== null && link.edgeSide!.mediaDelayMs < 500, `hop delay ${link.edgeSide!.mediaDelayMs} ms on loopback`);
    // FEC is on: a count, not null (loopback under load does drop the odd datagram, which FEC rebuilds).
    assert.ok(typeof link.edgeSide!.fecRecovered === 'number' && link.edgeSide!.fecRecovered < 100, `FEC recoveries ${link.edgeSide!.fecRecovered}`);
    if (task === origin.tasks[0]) console.log(`origin /api/live edge link: ${JSON.stringify(link)}`);
  }

  // /metrics on the carrier: plausible link figures.
  const gauge = async (name: string) => (await metricSamples([carrier], name, `edge="${EDGE}",stream="live/${NAME}",side="edge"`))[0]?.value;
  const figures = { rtt: await gauge('bridgecast_edge_link_rtt_ms'), loss: await gauge('bridgecast_edge_link_loss_ratio'), delay: await gauge('bridgecast_edge_link_media_delay_ms'), delayMax: await gauge('bridgecast_edge_link_media_delay_max_ms'), fec: await gauge('bridgecast_edge_link_fec_recovered') };
  console.log(`edge /metrics: ${JSON.stringify(figures)}`);
  assert.ok(figures.loss !== undefined && figures.loss >= 0 && figures.loss < 0.05, 'loss ratio on loopback');
  assert.ok(figures.delay !== undefined && figures.delay >= 0 && figures.delay < 500, 'hop delay on loopback');
  assert.ok(figures.delayMax !== undefined && figures.delayMax >= figures.delay!);
  assert.ok(figures.fec !== undefined && figures.fec >= 0, 'FEC recoveries exported');

  // A listing without the secret, or signed with another, is refused and counted; nothing is listed.
  const unsigned = await fetch(`http://127.0.0.1:${origin.tasks[0]!.httpPort}/api/relay/live`);
  const forged = await fetch(`http://127.0.0.1:${origin.tasks[0]!.httpPort}/api/relay/live`, { headers: { Authorization: relayListAuthorization('not-the-secret', EDGE, 60) } });
  assert.deepEqual([unsigned.status, forged.status], [403, 403]);
  assert.doesNotMatch(await forged.text(), new RegExp(NAME));
  assert.deepEqual((await metricSamples([origin.tasks[0]!], 'bridgecast_relay_list_refused_total', 'reason=')).map((s) => s.value).sort(), [1, 1], 'one refusal counted per reason (missing, bad-signature)');
  await waitFor(() => /"reason":"bad-signature".*relay listing refused/.test(origin.tasks[0]!.log()), 5000, 'the refusal logged');

  // A publisher at the edge is told to publish at the origin (and the edge's start-up banner offers none).
  assert.match(edge.tasks[0]!.log(), /Bridgecast is running as an edge \(ap-east-1\) of 127\.0\.0\.1: publish at the origin/);
  assert.doesNotMatch(edge.tasks[0]!.log(), /Publish \(RTMP\)/);
  const wrongPlace = startPublisher(`rtmp://127.0.0.1:${edge.lb.rtmpPort}/live/st_elsewhere`, { seconds: 10 });
  const refused = await Promise.race([wrongPlace.exited, sleep(15_000).then(() => null)]);
  assert.ok(refused && refused.code !== 0, 'ffmpeg fails to publish at the edge');
  await waitFor(() => /this server is an edge \(ap-east-1\) that relays 127\.0\.0\.1; publish at the origin/.test(edge.tasks.map((t) => t.log()).join('')), 5000, 'the refusal\'s reason in the edge\'s log');

  // The carrier dies: the other edge task takes the lease and the link; its viewers continue without reconnecting.
  const killedAt = performance.now();
  carrier.child.kill('SIGKILL');
  const takeover = await waitFor(async () => (await liveList(other.httpPort)).find((s) => s.name === NAME && s.upstream?.edgeSide?.task === other.id && s.upstream.edgeSide.state === 'up'), 30_000, 'the other edge task carrying the stream');
  const tookOverAt = performance.now();
  await waitFor(() => onOther.resumedAt > killedAt && flvOnOther.lastVideoAt > tookOverAt, 20_000, 'video again for the surviving task\'s viewers');
  console.log(`edge carrier ${carrier.id} killed: ${other.id} carries the stream ${((tookOverAt - killedAt) / 1000).toFixed(1)} s later (the dead task's lease lasts up to 6 s); its RTMP viewer's video back ${((onOther.resumedAt - killedAt) / 1000).toFixed(1)} s after the kill`);
  assert.ok(!onOther.closed && !flvOnOther.closed, 'viewers on the surviving edge task did not reconnect');
  assert.ok(takeover.upstream);
  const pulledNow = await metricSamples([other], 'bridgecast_edge_link_state', `stream="live/${NAME}",side="edge",state="up"`);
  assert.deepEqual(pulledNow.map((s) => s.value), [1]);
  const segmentsBefore = (await edgePlaylist(s3))?.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/)?.[1];
  await waitFor(async () => (await edgePlaylist(s3))?.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/)?.[1] !== segmentsBefore, 20_000, 'the edge\'s playlist moving on, written by the new carrier');

  // The origin task serving the link dies (with the encoder, if it was also the stream's owner there): the edge's
  // pull reconnects through the origin's balancer, lands on the surviving origin task, and the edge's viewers stay attached.
  const server = origin.tasks.find((t) => t.id === servedAtOrigin[0]!.task)!;
  const originKilledAt = performance.now();
  server.child.kill('SIGKILL');
  while (await Promise.race([encoder.exited.then(() => true), sleep(1500).then(() => false)])) {
    assert.ok(performance.now() - originKilledAt < 60_000, 'the encoder found an origin task within 60 s');
    encoder = startPublisher(`rtmp://127.0.0.1:${origin.lb.rtmpPort}/live/${NAME}`, { seconds: 300, gopSeconds: 1 });
  }
  await waitFor(() => onOther.resumedAt > originKilledAt && flvOnOther.lastVideoAt > originKilledAt + 1000, 45_000, 'video again at the edge after the origin task died')
    .catch((err: unknown) => {
      // What the edge's links did meanwhile, for whoever reads a failure.
      for (const t of edge.tasks) console.log(`${t.id}:\n${t.log().split('\n').filter((l) => l.includes('"relay":"pull"')).slice(-15).join('\n')}`);
      throw err;
    });
  console.log(`origin task ${server.id} (serving the link) killed: the edge's RTMP viewer had video again ${((onOther.resumedAt - originKilledAt) / 1000).toFixed(1)} s later, without reconnecting`);
  assert.ok(!onOther.closed && !flvOnOther.closed, 'edge viewers stayed attached across the origin task\'s death');

  // The origin ends the stream: so does the edge (its live playlist ends with EXT-X-ENDLIST).
  await encoder.stop();
  await waitFor(async () => (await edgePlaylist(s3))?.includes('#EXT-X-ENDLIST'), 20_000, 'EXT-X-ENDLIST in the edge\'s live playlist');

  // The relay secret appears in no log of either cluster.
  for (const t of [...origin.tasks, ...edge.tasks]) assert.ok(!t.log().includes(SECRET), `${t.id}'s log does not contain the relay secret`);
  s3.destroy();
});
