/**
 * The cluster as one server, end to end: 3 media tasks (processes), one
 * dynalite, one s3rver, nginx's stream module balancing TCP and UDP in front
 * (scripts/local-cluster.ts). ffmpeg publishes through the balancer; viewers
 * of every kind land on whatever task nginx picks.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { hlsKeys } from '@bridgecast/contracts';
import { CLUSTER_BUCKET, startLocalCluster, type ClusterTask, type LocalCluster } from '../../scripts/local-cluster.js';
import { killAllChildren, startPublisher, type ChildRun } from '../helpers/ffmpeg.js';
import { sleep, waitFor } from '../helpers/media-server.js';
import { flvViewer as startFlvViewer, rtmpViewer as startRtmpViewer, type Viewer } from '../helpers/stream-viewers.js';

const NAME = 'st_cluster';
let cluster: LocalCluster;
const viewers: Viewer[] = [];
const rtmpViewer = async (url: string) => { const v = await startRtmpViewer(url, NAME); viewers.push(v); return v; };
const flvViewer = (port: number) => { const v = startFlvViewer(port, NAME); viewers.push(v); return v; };

before(async () => { cluster = await startLocalCluster({ tasks: 3 }); });
after(async () => {
  for (const v of viewers) v.close();
  await killAllChildren();
  await cluster?.close();
});

async function liveList(port: number): Promise<{ name: string; task: { id: string } }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/live`);
  return ((await res.json()) as { streams: { name: string; task: { id: string } }[] }).streams;
}

async function ownerOf(): Promise<ClusterTask> {
  const id = await waitFor(async () => (await liveList(cluster.lb.httpPort)).find((s) => s.name === NAME)?.task.id, 15_000, 'the stream in /api/live');
  return cluster.tasks.find((t) => t.id === id)!;
}

/** Polls the live playlist in S3: the media sequence never goes back and a sequence number always names the same segment. */
function watchPlaylist() {
  const s3 = new S3Client({ endpoint: cluster.s3Endpoint, region: 'local', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const bySeq = new Map<number, string>();
  const violations: string[] = [];
  let lastSeq = -1;
  let discontinuities = 0;
  let polls = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: CLUSTER_BUCKET, Key: hlsKeys.livePlaylist(NAME) }));
        const text = await out.Body!.transformToString();
        polls++;
        const seq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? -1);
        if (seq < lastSeq) violations.push(`media sequence went back: ${lastSeq} → ${seq}`);
        lastSeq = Math.max(lastSeq, seq);
        discontinuities = Math.max(discontinuities, (text.match(/#EXT-X-DISCONTINUITY\n/g) ?? []).length);
        const uris = text.split('\n').filter((l) => l && !l.startsWith('#'));
        uris.forEach((uri, i) => {
          const known = bySeq.get(seq + i);
          if (known !== undefined && known !== uri) violations.push(`segment ${seq + i} renamed: ${known} → ${uri}`);
          bySeq.set(seq + i, uri);
        });
      } catch { /* not written yet */ }
      await sleep(500);
    }
  })();
  return {
    get lastSeq() { return lastSeq; }, get discontinuities() { return discontinuities; }, get segments() { return bySeq.size; }, violations, get polls() { return polls; },
    async stop() { stopped = true; await loop; s3.destroy(); },
  };
}

it('3 tasks behind nginx behave as one server: every viewer gets the stream, one publisher per stream, and the stream survives its owner task being killed', { timeout: 180_000 }, async () => {
  const lb = cluster.lb;
  let encoder: ChildRun = startPublisher(`rtmp://127.0.0.1:${lb.rtmpPort}/live/${NAME}`, { seconds: 300, gopSeconds: 1 });
  const owner = await ownerOf();
  const others = cluster.tasks.filter((t) => t !== owner);
  const playlist = watchPlaylist();
  await sleep(1500);

  // First frame on the owner vs on a task that has to pull it first.
  const t0 = performance.now();
  const [onOwner, onOther] = await Promise.all([rtmpViewer(`rtmp://127.0.0.1:${owner.rtmpPort}`), rtmpViewer(`rtmp://127.0.0.1:${others[0]!.rtmpPort}`)]);
  await waitFor(() => onOwner.firstVideoAt && onOther.firstVideoAt, 10_000, 'first frames');
  const ownerMs = onOwner.firstVideoAt! - t0;
  const otherMs = onOther.firstVideoAt! - t0;
  console.log(`first frame: owner task ${ownerMs.toFixed(0)} ms, non-owner task (pull from the owner) ${otherMs.toFixed(0)} ms`);
  assert.ok(otherMs - ownerMs < 1000, `non-owner first frame within 1 s of the owner's (${otherMs.toFixed(0)} vs ${ownerMs.toFixed(0)} ms)`);

  // 10 HTTP-FLV, 10 RTMP, 10 RTMP-over-KCP viewers through the balancer.
  const flv = Array.from({ length: 10 }, () => flvViewer(lb.httpPort));
  const rtmp = await Promise.all(Array.from({ length: 10 }, () => rtmpViewer(`rtmp://127.0.0.1:${lb.rtmpPort}`)));
  const kcp = await Promise.all(Array.from({ length: 10 }, () => rtmpViewer(`kcp://127.0.0.1:${lb.kcpPort}`)));
  await waitFor(() => [...flv, ...rtmp, ...kcp].every((v) => v.firstVideoAt !== null), 20_000, 'all 30 viewers receiving');
  console.log(`through the balancer: FLV ${flv.filter((v) => v.videoPackets > 0).length}/10, RTMP ${rtmp.filter((v) => v.videoPackets > 0).length}/10, KCP ${kcp.filter((v) => v.videoPackets > 0).length}/10 receiving`);

  // /api/live through the balancer: every task answers from the registry.
  for (let i = 0; i < 9; i++) assert.ok((await liveList(lb.httpPort)).some((s) => s.name === NAME && s.task.id === owner.id), `request ${i + 1} lists the stream`);

  // A second publisher with the same key on another task is refused while the first is live.
  const second = startPublisher(`rtmp://127.0.0.1:${others[1]!.rtmpPort}/live/${NAME}`, { seconds: 30 });
  const secondExit = await Promise.race([second.exited, sleep(15_000).then(() => null)]);
  assert.ok(secondExit && secondExit.code !== 0, 'the second publisher is refused');
  assert.match(others[1]!.log(), /already being published \(on task task-\d\)/);
  assert.equal((await ownerOf()).id, owner.id);

  // The owner dies. The encoder reconnects through the balancer (as OBS does) until a task accepts it.
  const directOnOthers = await Promise.all(others.map((t) => rtmpViewer(`rtmp://127.0.0.1:${t.rtmpPort}`)));
  const flvOnOthers = others.map((t) => flvViewer(t.httpPort));
  await waitFor(() => [...directOnOthers, ...flvOnOthers].every((v) => v.firstVideoAt !== null), 10_000, 'viewers on the other tasks');
  await sleep(2500); // a couple of segments in the playlist before the kill
  const seqBeforeKill = playlist.lastSeq;
  const killedAt = performance.now();
  owner.child.kill('SIGKILL');
  await encoder.exited;
  // The moment a task holds the lease again (the registry, through the balancer), watched while the encoder retries.
  let newOwner: string | undefined;
  let leaseTakenAt = 0;
  const ownerWatch = (async () => {
    while (!newOwner && performance.now() - killedAt < 60_000) {
      const id = (await liveList(lb.httpPort).catch(() => [])).find((s) => s.name === NAME)?.task.id;
      if (id && id !== owner.id) { newOwner = id; leaseTakenAt = performance.now(); }
      else await sleep(100);
    }
  })();
  for (;;) {
    encoder = startPublisher(`rtmp://127.0.0.1:${lb.rtmpPort}/live/${NAME}`, { seconds: 300, gopSeconds: 1 });
    const exit = await Promise.race([encoder.exited, ownerWatch.then(() => null)]);
    if (exit === null) break;
    assert.ok(performance.now() - killedAt < 60_000, 'the encoder found a task within 60 s');
    await sleep(500);
  }
  assert.ok(newOwner, 'a new owner in the registry');
  const survivors = [...directOnOthers, ...flvOnOthers];
  await waitFor(() => survivors.every((v) => v.resumedAt > killedAt), 20_000, 'video again on the other tasks');
  const backAt = Math.max(...survivors.map((v) => v.resumedAt));
  console.log(`video back per viewer after the lease was taken (RTMP on ${others.map((t) => t.id).join(', ')}, then FLV on the same): ${survivors.map((v) => ((v.resumedAt - leaseTakenAt) / 1000).toFixed(1)).join(', ')} s`);
  console.log(`owner ${owner.id} killed; ${newOwner} took the lease for the reconnecting encoder ${((leaseTakenAt - killedAt) / 1000).toFixed(1)} s later; video back for every viewer on the surviving tasks ${((backAt - leaseTakenAt) / 1000).toFixed(1)} s after that (${((backAt - killedAt) / 1000).toFixed(1)} s after the kill)`);
  assert.ok(survivors.every((v) => !v.closed), 'viewers on the other tasks did not have to reconnect');

  await waitFor(() => playlist.discontinuities > 0 && playlist.lastSeq > seqBeforeKill + 1, 30_000, 'the live playlist continuing behind a discontinuity');
  await playlist.stop();
  console.log(`live playlist: ${playlist.polls} polls, media sequence ${seqBeforeKill} at the kill → ${playlist.lastSeq}, ${playlist.segments} segments seen, violations: ${playlist.violations.length}`);
  assert.deepEqual(playlist.violations, []);
  await encoder.stop();
});
