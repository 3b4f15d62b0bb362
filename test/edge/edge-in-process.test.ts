/**
 * An edge and its origin as media services in this process (real RTMP, KCP
 * and HTTP between them; the cluster test runs processes): EDGE_MODE=
 * on-demand; the edge's viewers authorized as the origin would (the origin
 * keeps stream keys and private streams, AUTH=keys; the edge has no table of
 * its own and no PLAYBACK_PUBLIC_KEYS: privacy and keys come from the
 * origin's listing); a link that goes silent.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test, type TestContext } from 'node:test';
import { loadLimits } from '@bridgecast/media/limits.js';
import { startLossyUdpProxy } from '@bridgecast/test-support/lossy-udp-proxy.js';
import { killAllChildren, startPublisher } from '../helpers/ffmpeg.js';
import { memoryLogger, rtmpPlays, sleep, startTestServer, waitFor, waitForKeyframe, type TestServer } from '../helpers/media-server.js';
import { flvViewer } from '../helpers/stream-viewers.js';

after(killAllChildren);

const SECRET = randomBytes(32).toString('hex');
const relay = (serverId: string) => ({ serverId, secret: SECRET, origin: undefined, idleSeconds: 1, push: [], tokenTtlSeconds: 60 });

/** Edge settings pulling from `origin` through the KCP port `kcpPort` (the origin's own, or a wire in front of it). */
function edgeOf(origin: TestServer, kcpPort: number, mode: 'all' | 'on-demand', name: string) {
  return { origin: new URL(`kcp://127.0.0.1:${kcpPort}`), originApi: new URL(origin.httpBase), mode, name };
}

/** An edge (EDGE_MODE=all) whose KCP link to `origin` runs through a lossy UDP proxy the test can cut. */
async function edgeBehindWire(t: TestContext, origin: TestServer, serverId: string) {
  const wire = await startLossyUdpProxy({ target: { host: '127.0.0.1', port: origin.kcpPort! } });
  t.after(() => wire.close());
  const edge = await startTestServer({ kcpEnabled: true, relay: relay(serverId), edge: edgeOf(origin, wire.port, 'all', 'ap-east-1') });
  t.after(() => edge.close());
  return { wire, edge };
}

/** Once the edge's link for `name` is up: an FLV viewer at the edge, returned when it has video. */
async function watchOnceUp(t: TestContext, edge: TestServer, name: string) {
  await waitFor(async () => (await edgeSideState(edge, name)) === 'up', 20_000, 'the link up');
  const viewer = flvViewer(edge.httpPort, name);
  t.after(() => viewer.close());
  await waitFor(() => viewer.firstVideoAt !== null, 10_000, 'video at the edge');
  return viewer;
}

async function api<T>(server: TestServer, method: string, route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.httpBase}/api${route}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return (await res.json()) as T;
}

/** Bytes of an HTTP-FLV response within `ms` (status, and the body's size). */
async function flvBytes(url: string, ms: number): Promise<{ status: number; bytes: number }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(ms) }).catch(() => undefined);
  if (!res) return { status: 0, bytes: 0 };
  let bytes = 0;
  try {
    for await (const chunk of res.body!) bytes += (chunk as Uint8Array).length;
  } catch { /* the timeout ends the read */ }
  return { status: res.status, bytes };
}

test('on-demand: the edge pulls only while a viewer asks; private streams play there only with their credential, checked with the origin\'s keys', async (t) => {
  const origin = await startTestServer({ auth: 'keys', kcpEnabled: true, relay: relay('origin-1') });
  t.after(() => origin.close());
  const edge = await startTestServer({
    kcpEnabled: true, relay: relay('edge-1'),
    edge: edgeOf(origin, origin.kcpPort!, 'on-demand', 'cn-northwest-1'),
  });
  t.after(() => edge.close());

  const open = await api<{ streamId: string; streamKey: string }>(origin, 'POST', '/streams', { name: 'open' });
  const closed = await api<{ streamId: string; streamKey: string }>(origin, 'POST', '/streams', { name: 'closed', private: true });
  for (const s of [open, closed]) startPublisher(origin.rtmpUrl(s.streamKey), { seconds: 60 });
  for (const s of [open, closed]) await waitForKeyframe(origin.hub, s.streamId, 20_000);
  const relayViewers = (id: string) => origin.hub.get('live', id)?.viewersByProtocol().kcp ?? 0;

  // Listed at the origin, unwatched at the edge: nothing crosses.
  await sleep(4500);
  assert.equal(relayViewers(open.streamId), 0, 'no pull without a viewer');
  assert.equal(edge.hub.get('live', open.streamId), undefined);

  // A viewer asks: one pull, the viewer gets media; the viewer leaves: the pull ends after RELAY_IDLE_SECONDS.
  const watched = await flvBytes(edge.flvUrl(open.streamId), 4000);
  assert.equal(watched.status, 200);
  assert.ok(watched.bytes > 20_000, `media through the edge (${watched.bytes} bytes in 4 s)`);
  assert.equal(relayViewers(open.streamId), 1, 'one pull at the origin while watched');
  await waitFor(() => relayViewers(open.streamId) === 0, 10_000, 'the pull ending after the viewer left');

  // A private stream: refused at the edge without its credential, played with it (signed by the origin's key,
  // which the edge only knows from the listing).
  // Not pulled for an unauthorized request, so not live here: 404 (the origin, where it is live, answers 403).
  assert.equal((await flvBytes(edge.flvUrl(closed.streamId), 2000)).status, 404, 'HTTP-FLV without a credential');
  assert.equal(relayViewers(closed.streamId), 0, 'an unauthorized request starts no pull');
  assert.equal(await rtmpPlays(edge, closed.streamId), false, 'RTMP without a credential');
  const credential = await api<{ token: string }>(origin, 'POST', `/streams/${closed.streamId}/playback`, { expiresInSeconds: 600 });
  const otherCredential = await api<{ token: string }>(origin, 'POST', `/streams/${open.streamId}/playback`, { expiresInSeconds: 600 });
  const watching = flvBytes(`${edge.flvUrl(closed.streamId)}?token=${encodeURIComponent(credential.token)}`, 5000);
  // While it is pulled (live here), another stream's credential meets the 403 the origin gives.
  await waitFor(() => edge.hub.get('live', closed.streamId) !== undefined, 5000, 'the private stream pulled for its viewer');
  assert.equal((await flvBytes(`${edge.flvUrl(closed.streamId)}?token=${encodeURIComponent(otherCredential.token)}`, 1000)).status, 403, 'another stream\'s credential');
  assert.equal(await rtmpPlays(edge, closed.streamId), false, 'RTMP without a credential, stream live here');
  const withToken = await watching;
  assert.equal(withToken.status, 200, 'HTTP-FLV with the origin\'s credential');
  assert.ok(withToken.bytes > 20_000, `private media through the edge (${withToken.bytes} bytes)`);
});

/** The edge side's link state on /metrics (up, behind, down), or undefined before the link exists. */
async function edgeSideState(edge: TestServer, name: string): Promise<string | undefined> {
  const text = await (await fetch(`${edge.httpBase}/metrics`)).text();
  return /bridgecast_edge_link_state\{[^}]*side="edge",state="(\w+)"\} 1/.exec(text.split('\n').filter((l) => l.includes(`stream="live/${name}"`)).join('\n'))?.[1];
}

test('a link that goes silent (a dead origin task sends no reset over UDP) reads down and is reopened within seconds, not after KCP\'s 30 s idle timeout; the edge\'s viewers stay attached', async (t) => {
  const origin = await startTestServer({ kcpEnabled: true, relay: relay('origin-2') });
  t.after(() => origin.close());
  const { wire, edge } = await edgeBehindWire(t, origin, 'edge-2');
  startPublisher(origin.rtmpUrl('st_silent'), { seconds: 60, gopSeconds: 1 });
  const viewer = await watchOnceUp(t, edge, 'st_silent');

  const cutAt = performance.now();
  wire.setImpairment({ lossPercent: 100 });
  await waitFor(async () => (await edgeSideState(edge, 'st_silent')) === 'down', 12_000, 'the silent link read as down');
  const downAfterMs = performance.now() - cutAt;
  wire.setImpairment({ lossPercent: 0 });
  await waitFor(() => viewer.resumedAt > cutAt, 30_000, 'video again at the edge');
  console.log(`silent link: down after ${(downAfterMs / 1000).toFixed(1)} s, video back ${((viewer.resumedAt - cutAt) / 1000).toFixed(1)} s after the cut (wire restored at the down)`);
  assert.ok(downAfterMs < 10_000, 'reopened on silence, not after the 30 s KCP idle timeout');
  assert.ok(!viewer.closed, 'the edge\'s viewer stayed attached');
});

test('an origin between publishers (its encoder reconnecting, the end lost on the way): the edge keeps reconnecting past the origin\'s play wait and its viewers stay attached until the stream is back', async (t) => {
  // The origin's play wait is short here, so the edge's reconnects meet StreamNotFound (after Play.Start: a broken link, retried) before the encoder is back.
  const origin = await startTestServer({ kcpEnabled: true, relay: relay('origin-3'), limits: { ...loadLimits({}), playWaitMs: 1500 } });
  t.after(() => origin.close());
  const { wire, edge } = await edgeBehindWire(t, origin, 'edge-3');
  let encoder = startPublisher(origin.rtmpUrl('st_between'), { seconds: 60, gopSeconds: 1 });
  const viewer = await watchOnceUp(t, edge, 'st_between');

  // The wire goes dark and the encoder drops: the origin's end (UnpublishNotify) never reaches the edge.
  const cutAt = performance.now();
  wire.setImpairment({ lossPercent: 100 });
  await encoder.stop();
  // The edge reopens the silent link; once the wire is back, the origin has no such stream for a while.
  await waitFor(async () => (await edgeSideState(edge, 'st_between')) === 'down', 12_000, 'the silent link reopened');
  wire.setImpairment({ lossPercent: 0 });
  await sleep(4000);
  encoder = startPublisher(origin.rtmpUrl('st_between'), { seconds: 60, gopSeconds: 1 });
  await waitFor(() => viewer.resumedAt > cutAt, 20_000, 'video again at the edge');
  console.log(`encoder back after ${((performance.now() - cutAt) / 1000).toFixed(1)} s; the edge's viewer had video again ${((viewer.resumedAt - cutAt) / 1000).toFixed(1)} s after the cut, still attached`);
  assert.ok(!viewer.closed, 'the edge\'s viewer stayed attached');
  await encoder.stop();
});

test('an edge with the wrong relay secret gets nothing: the origin refuses and counts its listings, the edge counts and says why, neither logs a secret', async (t) => {
  const originLogs = memoryLogger('info');
  const edgeLogs = memoryLogger('info');
  const origin = await startTestServer({ kcpEnabled: true, relay: relay('origin-4'), logger: originLogs.logger });
  t.after(() => origin.close());
  const wrongSecret = randomBytes(32).toString('hex');
  const edge = await startTestServer({
    kcpEnabled: true, logger: edgeLogs.logger, relay: { ...relay('edge-4'), secret: wrongSecret },
    edge: edgeOf(origin, origin.kcpPort!, 'all', 'ap-east-1'),
  });
  t.after(() => edge.close());
  startPublisher(origin.rtmpUrl('st_secret'), { seconds: 20 });
  await waitForKeyframe(origin.hub, 'st_secret', 20_000);
  await sleep(4500);
  const metric = async (server: TestServer, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(await (await fetch(`${server.httpBase}/metrics`)).text())?.[1]);
  assert.ok(await metric(origin, 'bridgecast_relay_list_refused_total') >= 2, 'refusals counted at the origin (bad-signature)');
  assert.ok(await metric(edge, 'bridgecast_edge_listing_failures_total') >= 2, 'failures counted at the edge');
  assert.equal(edge.hub.get('live', 'st_secret'), undefined, 'nothing crossed');
  assert.equal(origin.hub.get('live', 'st_secret')!.viewerCount, 0);
  const refused = originLogs.lines.find((l) => l.msg === 'relay listing refused');
  assert.equal(refused?.reason, 'bad-signature');
  const failed = edgeLogs.lines.find((l) => l.msg.startsWith('origin listing unavailable'));
  assert.match(String(failed?.error), /HTTP 403: the origin refused the relay signature/);
  assert.equal(edgeLogs.lines.filter((l) => l.msg.startsWith('origin listing unavailable')).length, 1, 'said once, not every 2 s');
  const everything = JSON.stringify([...originLogs.lines, ...edgeLogs.lines]);
  assert.ok(!everything.includes(SECRET) && !everything.includes(wrongSecret), 'no secret in either log');
});
