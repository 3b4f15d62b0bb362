import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { signedRelayName } from '@bridgecast/media/relay/relay-token.js';
import { connectRtmp } from '@bridgecast/media/relay/transport.js';
import type { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import { killAllChildren, packetsOf, probeMedia, startPublisher } from '../helpers/ffmpeg.js';
import { freePort, sleep, waitFor, waitForKeyframe, waitForStream } from '../helpers/media-server.js';
import { SyntheticPublisher } from '../helpers/synthetic-media.js';
import { startBreakableProxy, startRelayNode, statesOf, type RelayNode } from './relay-fixture.js';

const SECRET = 'relay-test-secret';
const SYNTHETIC = { fps: 30, gop: 30, frameBytes: 2000 };
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await killAllChildren();
});

async function node(opts: Parameters<typeof startRelayNode>[0]): Promise<RelayNode> {
  const n = await startRelayNode({ secret: SECRET, ...opts });
  cleanups.push(() => n.close());
  return n;
}

/** An RTMP viewer of `url` that records every packet. */
async function viewer(url: URL, name: string): Promise<{ client: RtmpClient; packets: MediaPacket[] }> {
  const client = await connectRtmp(url, 'live');
  const packets: MediaPacket[] = [];
  client.on('packet', (p) => packets.push(p));
  await client.play(name);
  cleanups.push(() => client.close());
  return { client, packets };
}

function videoTimestamps(packets: MediaPacket[]): number[] {
  return packets.filter((p) => p.isVideo && !p.isSequenceHeader).map((p) => p.timestamp);
}

function assertIncreasing(ts: number[], what: string): void {
  for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! > ts[i - 1]!, `${what}: timestamp ${ts[i]} after ${ts[i - 1]} at ${i}`);
}

describe('relay pull on demand', () => {
  it('pulls over KCP when the first viewer asks; edge viewers get the origin stream with fast start', async () => {
    const origin = await node({ serverId: 'origin' });
    const edge = await node({ serverId: 'edge', origin: origin.kcpUrl });
    const publisher = startPublisher(origin.server.rtmpUrl('cam'), { seconds: 6 });
    await waitForKeyframe(origin.server.hub, 'cam');
    await sleep(300);
    assert.equal(edge.server.hub.get('live', 'cam'), undefined, 'nothing is pulled before a viewer asks');
    assert.equal(edge.relays.pulls!.active.size, 0);

    // Both viewers read until the publisher stops; the edge one triggers the pull.
    const [viaEdge, direct] = await Promise.all([
      probeMedia(edge.flvUrl('cam'), { timeoutMs: 20_000 }),
      probeMedia(origin.server.flvUrl('cam'), { timeoutMs: 20_000 }),
    ]);
    await publisher.exited;
    const edgeVideo = packetsOf(viaEdge, 'video');
    const directVideo = packetsOf(direct, 'video');
    assert.ok(edgeVideo[0]!.flags.startsWith('K'), 'the edge viewer starts at a keyframe (fast start from the GOP cache)');
    assert.ok(edgeVideo.length >= directVideo.length - 60, `edge ${edgeVideo.length} frames vs origin ${directVideo.length}`);
    assert.equal(edgeVideo.at(-1)!.dts, directVideo.at(-1)!.dts, 'the edge got the stream to its last frame');
    assert.equal(packetsOf(viaEdge, 'audio').length > 0, true);
    const edgeDts = new Set(edgeVideo.map((p) => p.dts));
    const shared = directVideo.filter((p) => edgeDts.has(p.dts)).length;
    assert.ok(shared >= edgeVideo.length - 1, 'the edge frames are the origin frames (same timestamps)');
    assert.equal(statesOf(edge, 'pull')[0], 'connecting');
    assert.ok(statesOf(edge, 'pull').includes('live'));
    // The stream ended at the origin, so it ended at the edge as well.
    await waitFor(() => edge.server.hub.get('live', 'cam') === undefined, 5000, 'the edge stream to end');
  });

  it('keeps the pull while viewers remain, stops it after the grace, and the next viewer starts it again', async () => {
    const origin = await node({ serverId: 'o2' });
    const edge = await node({ serverId: 'e2', origin: origin.kcpUrl, idleSeconds: 1 });
    const publisher = await SyntheticPublisher.start(origin.server.rtmpPort, 'cam', SYNTHETIC);
    cleanups.push(() => publisher.stop());
    await waitForKeyframe(origin.server.hub, 'cam');

    const first = await viewer(edge.rtmpUrl, 'cam');
    await waitFor(() => videoTimestamps(first.packets).length > 40, 5000, 'frames at the edge viewer');
    assert.equal(edge.server.hub.get('live', 'cam')!.publisher.protocol, 'relay');
    assert.equal(origin.server.hub.get('live', 'cam')!.viewersByProtocol().kcp, 1, 'one KCP relay session at the origin');
    assertIncreasing(videoTimestamps(first.packets), 'edge viewer');

    first.client.close();
    const leftAt = Date.now();
    await waitFor(() => edge.server.hub.get('live', 'cam') === undefined, 5000, 'the pull to stop');
    assert.ok(Date.now() - leftAt >= 900, 'the pull outlived the last viewer by the grace period');
    await waitFor(() => (origin.server.hub.get('live', 'cam')?.subscriberCount ?? 1) === 0, 5000, 'the origin to lose the relay viewer');
    assert.equal(statesOf(edge, 'pull').at(-1), 'stopped');

    const second = await viewer(edge.rtmpUrl, 'cam');
    await waitFor(() => videoTimestamps(second.packets).length > 10, 5000, 'frames after the pull restarted');
    assert.ok(second.packets.find((p) => p.isVideo && !p.isSequenceHeader)!.isKeyframe, 'the new viewer starts at a keyframe');
  });

  it('a pull that never brought the stream is reported failed, with its cause, once its waiting viewer gives up', async () => {
    // Before, it ended as a plain 'stopped: no viewers', logged at info: a viewer's 404 left no trace of why.
    const deadOrigin = new URL(`rtmp://127.0.0.1:${await freePort()}`); // nothing listens there
    const edge = await node({ serverId: 'e9', origin: deadOrigin, idleSeconds: 1 });
    const asked = new AbortController();
    const request = fetch(edge.flvUrl('nowhere'), { signal: asked.signal }).catch(() => undefined);
    await waitFor(() => statesOf(edge, 'pull', 'live/nowhere').includes('retrying'), 5000, 'the pull to fail once');
    asked.abort();
    await request;
    await waitFor(() => ['failed', 'stopped'].includes(statesOf(edge, 'pull', 'live/nowhere').at(-1)!), 8000, 'the pull to end');
    const last = edge.changes.filter((c) => c.stream === 'live/nowhere').at(-1)!;
    assert.equal(last.state, 'failed');
    assert.match(last.detail, /ECONNREFUSED/);

    // A pull that was live and lost its viewers still just stops (the test above).
  });

  it('reconnects after the link breaks, with viewers staying attached and no repeated frames', async () => {
    const origin = await node({ serverId: 'o3' });
    const proxy = await startBreakableProxy(Number(origin.rtmpUrl.port));
    cleanups.push(() => proxy.close());
    const edge = await node({ serverId: 'e3', origin: proxy.url, idleSeconds: 5 });
    const publisher = await SyntheticPublisher.start(origin.server.rtmpPort, 'cam', SYNTHETIC);
    cleanups.push(() => publisher.stop());
    await waitForKeyframe(origin.server.hub, 'cam');
    const watcher = await viewer(edge.rtmpUrl, 'cam');
    await waitFor(() => videoTimestamps(watcher.packets).length > 30, 5000, 'frames before the break');

    proxy.cut();
    const before = videoTimestamps(watcher.packets).length;
    await waitFor(() => statesOf(edge, 'pull').includes('retrying'), 3000, 'the pull to notice the break');
    await waitFor(() => videoTimestamps(watcher.packets).length > before + 60, 10_000, 'frames after reconnecting');
    assert.ok(proxy.connections >= 2, 'the edge connected again');
    assert.ok(statesOf(edge, 'pull').includes('retrying'));
    assertIncreasing(videoTimestamps(watcher.packets), 'edge viewer across the reconnect');
    assert.equal(watcher.client.connection.isOpen, true, 'the viewer stayed connected');
  });
});

describe('relay push', () => {
  it('pushes matching streams (startup packets first) and re-publishes after the link breaks', async () => {
    const edge = await node({ serverId: 'pe' });
    const proxy = await startBreakableProxy(Number(edge.rtmpUrl.port));
    cleanups.push(() => proxy.close());
    const origin = await node({ serverId: 'po', push: [{ url: proxy.url, streams: ['live/c*'] }, { url: edge.kcpUrl, streams: ['other/*'] }] });
    const publisher = await SyntheticPublisher.start(origin.server.rtmpPort, 'cam', SYNTHETIC);
    cleanups.push(() => publisher.stop());
    const ignored = await SyntheticPublisher.start(origin.server.rtmpPort, 'dog', SYNTHETIC);
    cleanups.push(() => ignored.stop());

    const pushed = await waitForStream(edge.server.hub, 'cam');
    assert.equal(pushed.publisher.protocol, 'rtmp');
    await waitForKeyframe(edge.server.hub, 'cam');
    const watcher = await viewer(edge.rtmpUrl, 'cam');
    await waitFor(() => videoTimestamps(watcher.packets).length > 10, 5000, 'frames at the edge');
    const firstMedia = watcher.packets.filter((p) => !p.isScript);
    assert.ok(firstMedia[0]!.isSequenceHeader, 'sequence headers come first');
    assert.ok(watcher.packets.find((p) => p.isVideo && !p.isSequenceHeader)!.isKeyframe, 'then a keyframe');
    assert.equal(edge.server.hub.get('live', 'dog'), undefined, 'streams not matching a pattern are not pushed');

    proxy.cut();
    await waitFor(() => statesOf(origin, 'push').filter((s) => s === 'live').length >= 2, 10_000, 'the push to be live again');
    const again = await waitForStream(edge.server.hub, 'cam');
    assert.notEqual(again, pushed, 'a new publication at the edge');
    await waitForKeyframe(edge.server.hub, 'cam');

    publisher.stop();
    await waitFor(() => edge.server.hub.get('live', 'cam') === undefined, 5000, 'the pushed stream to end with the original');
    await waitFor(() => statesOf(origin, 'push').at(-1) === 'stopped', 5000, 'the push to stop');
  });
});

describe('relay loops and secrets', () => {
  it('refuses a pull loop (A pulls from B pulls from A) without retrying', async () => {
    const a = await node({ serverId: 'A' });
    const b = await node({ serverId: 'B', origin: a.kcpUrl });
    a.reconfigure(b.kcpUrl);
    const watcher = await viewer(a.rtmpUrl, 'ghost');
    // A asks B (via A); B, not having it, asks A (via A,B); A finds itself in the chain and refuses.
    await waitFor(() => statesOf(b, 'pull', 'live/ghost').includes('refused'), 8000, "B's looping pull to be refused");
    assert.match(b.changes.find((c) => c.state === 'refused')!.detail, /Play\.Failed/);
    await sleep(2000);
    assert.equal(b.changes.filter((c) => c.stream === 'live/ghost' && c.state === 'connecting').length, 1, 'the refused pull was not retried');
    assert.equal(a.changes.filter((c) => c.stream === 'live/ghost' && c.state === 'connecting').length, 1);
    assert.deepEqual(statesOf(a, 'pull', 'live/ghost'), ['connecting', 'waiting'], 'A waits for a stream that is live nowhere');
    assert.equal(watcher.client.connection.isOpen, true, 'the viewer waits, as for any stream that is not live');
  });

  it('refuses a push loop (A pushes to B pushes to A), keeping the original stream', async () => {
    const a = await node({ serverId: 'A2' });
    const b = await node({ serverId: 'B2', push: [{ url: a.kcpUrl, streams: ['live/*'] }] });
    a.reconfigure(undefined, [{ url: b.kcpUrl, streams: ['live/*'] }]);
    const publisher = await SyntheticPublisher.start(a.server.rtmpPort, 'loop', SYNTHETIC);
    cleanups.push(() => publisher.stop());
    const atB = await waitForStream(b.server.hub, 'loop');
    assert.equal(atB.publisher.protocol, 'kcp');
    await waitFor(() => statesOf(b, 'push', 'live/loop').includes('refused'), 8000, "B's push back to A to be refused");
    assert.match(b.changes.find((c) => c.state === 'refused')!.detail, /relay loop: A2 → B2 → A2/);
    await sleep(1000);
    assert.equal(b.changes.filter((c) => c.stream === 'live/loop' && c.state === 'connecting').length, 1, 'not retried');
    assert.equal(a.server.hub.get('live', 'loop')!.publisher.protocol, 'rtmp', 'the original stream is unaffected');
    assert.equal(statesOf(a, 'push', 'live/loop').at(-1), 'live');
  });

  it('checks relay tokens: wrong secret, expired, tampered via-chain are refused; a valid one bypasses keys and play tokens', async () => {
    const edge = await node({ serverId: 'sec', publicPlay: false });
    const name = (secret: string, via: string[], ttl = 60) => signedRelayName(secret, 'live', 'cam', via, ttl);
    const tryPublish = async (streamName: string) => {
      const client = await connectRtmp(edge.rtmpUrl, 'live', 5000);
      cleanups.push(() => client.close());
      return client.publish(streamName).then(() => 'ok', (err: Error) => err.message);
    };
    assert.match(await tryPublish('cam'), /Unauthorized.*stream key required/, 'no token: the stream-key check applies');
    assert.match(await tryPublish(name('wrong-secret', ['o'])), /Unauthorized.*bad-signature/);
    assert.match(await tryPublish(name(SECRET, ['o'], -5)), /Unauthorized.*expired/);
    assert.match(await tryPublish(name(SECRET, ['o']).replace('via=o', 'via=x')), /Unauthorized.*bad-signature/);
    assert.match(await tryPublish(name(SECRET, ['o', 'sec'])), /Unauthorized.*relay loop/);
    assert.equal(await tryPublish(name(SECRET, ['o'])), 'ok');

    const tryPlay = async (streamName: string) => {
      const client = await connectRtmp(edge.rtmpUrl, 'live', 5000);
      cleanups.push(() => client.close());
      return client.play(streamName).then(() => 'ok', (err: Error) => err.message);
    };
    assert.match(await tryPlay('cam'), /Play.Failed/, 'play tokens are required here');
    assert.match(await tryPlay(name('wrong-secret', ['o'])), /Play.Failed/);
    assert.equal(await tryPlay(name(SECRET, ['o'])), 'ok');
  });
});
