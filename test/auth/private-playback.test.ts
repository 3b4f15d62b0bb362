/**
 * Private streams end to end through the running service (AUTH=keys,
 * embedded table, local HLS, KCP): a stream created with "private": true
 * refuses HLS (live and recordings), HTTP-FLV, RTMP and KCP play without a
 * credential and plays with one from POST /api/streams/<id>/playback; an
 * expired credential, one bound to another address, and stream A's
 * credential on stream B or B's recordings are refused. The HLS route
 * checks CloudFront's signed-cookie format with the server's own key, the
 * one its keys API signs with.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  fromCloudFrontBase64, issuePlaybackCredential, publicKeyFingerprint, toCloudFrontBase64, type SignedCookie,
} from '@bridgecast/stream-keys';
import { playOverKcp } from '@bridgecast/media/client/index.js';
import { killAllChildren, startPublisher } from '../helpers/ffmpeg.js';
import { rtmpPlays, startTestServer, waitFor, waitForKeyframe, type TestServer } from '../helpers/media-server.js';

after(killAllChildren);

interface Created { streamId: string; streamKey: string; private: boolean }
interface Credential {
  streamId: string;
  private: boolean;
  expiresAt: string;
  cookies: SignedCookie[];
  token: string;
  playback: { hls: string; flv: string; rtmp: string; kcp: string };
}

async function api<T>(server: TestServer, method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.httpBase}/api${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** The Cookie header a browser sends for `urlPath`: the cookies whose Path is a prefix of it. */
function cookieHeader(cookies: SignedCookie[], urlPath: string): string {
  return cookies.filter((c) => urlPath.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
}

async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url, { headers });
  await res.body?.cancel();
  return res.status;
}

async function kcpPlays(server: TestServer, name: string): Promise<boolean> {
  try {
    const player = await playOverKcp(`kcp://127.0.0.1:${server.kcpPort}/live`, name);
    player.close();
    return true;
  } catch {
    return false;
  }
}

/** The first broadcast directory of a stream's recordings. */
async function recordingPath(server: TestServer, streamId: string): Promise<string> {
  const dir = path.join(server.config.dataDir, 'hls', 'recordings', streamId);
  const broadcast = await waitFor(async () => (await readdir(dir).catch(() => []))[0], 20_000, `a recording of ${streamId}`);
  await waitFor(async () => (await readdir(path.join(dir, broadcast))).includes('index.m3u8'), 20_000, 'a recording playlist');
  return `/recordings/${streamId}/${broadcast}/index.m3u8`;
}

test('a private stream plays only with its own, unexpired credential: HLS (live and recordings), HTTP-FLV, RTMP, KCP', async (t) => {
  const server = await startTestServer({ auth: 'keys', kcpEnabled: true, hlsEnabled: true, hlsSegmentSeconds: 1 });
  t.after(() => server.close());

  const a = (await api<Created>(server, 'POST', '/streams', { name: 'private-a', private: true })).body;
  const b = (await api<Created>(server, 'POST', '/streams', { name: 'private-b', private: true })).body;
  const pub = (await api<Created>(server, 'POST', '/streams', { name: 'public-c' })).body;
  assert.equal(a.private, true, 'the create answer says private');
  assert.equal(pub.private, false);
  assert.equal((await api<{ private: boolean }>(server, 'GET', `/streams/${a.streamId}`)).body.private, true, 'and so does the stream');

  for (const s of [a, b, pub]) startPublisher(server.rtmpUrl(s.streamKey), { seconds: 30 });
  for (const s of [a, b, pub]) await waitForKeyframe(server.hub, s.streamId, 20_000);
  const live = (id: string) => `${server.httpBase}/live/${id}/index.m3u8`;
  await waitFor(async () => (await status(live(pub.streamId))) === 200, 20_000, 'the public live playlist');
  const recA = await recordingPath(server, a.streamId);
  const recB = await recordingPath(server, b.streamId);

  // Without a credential: nothing of A plays.
  assert.equal(await status(live(a.streamId)), 403, 'HLS live playlist');
  assert.equal(await status(`${server.httpBase}${recA}`), 403, 'HLS recording');
  assert.equal(await status(server.flvUrl(a.streamId)), 403, 'HTTP-FLV');
  assert.equal(await rtmpPlays(server, a.streamId), false, 'RTMP');
  assert.equal(await kcpPlays(server, a.streamId), false, 'KCP');
  // The watch page's state route says no more of a private stream than of one that does not exist.
  const state = async (id: string) => ((await (await fetch(`${server.httpBase}/api/live/${id}`)).json()) as { state: string }).state;
  assert.equal(await state(a.streamId), 'not_found', 'GET /api/live/<private id> does not tell that it is on air');
  assert.equal(await state(pub.streamId), 'live');
  // The public stream is untouched.
  assert.equal(await status(live(pub.streamId)), 200);
  assert.equal(await rtmpPlays(server, pub.streamId), true);

  const issued = await api<Credential>(server, 'POST', `/streams/${a.streamId}/playback`, { expiresInSeconds: 600 });
  assert.equal(issued.status, 200);
  const credential = issued.body;
  assert.deepEqual([...new Set(credential.cookies.map((c) => c.path))], [`/live/${a.streamId}/`, `/recordings/${a.streamId}/`]);
  assert.ok(!JSON.stringify(credential).includes(a.streamKey), 'a credential never carries the stream key');
  const tokenQuery = `token=${encodeURIComponent(credential.token)}`;

  // With it: everything of A plays.
  const livePath = `/live/${a.streamId}/index.m3u8`;
  assert.equal(await status(live(a.streamId), { cookie: cookieHeader(credential.cookies, livePath) }), 200, 'HLS live with cookies');
  assert.equal(await status(`${server.httpBase}${recA}`, { cookie: cookieHeader(credential.cookies, recA) }), 200, 'HLS recording with cookies');
  const playlist = await (await fetch(live(a.streamId), { headers: { cookie: cookieHeader(credential.cookies, livePath) } })).text();
  const segment = playlist.split('\n').find((line) => line.endsWith('.ts'))!;
  const segmentPath = new URL(segment, live(a.streamId)).pathname;
  assert.equal(await status(`${server.httpBase}${segmentPath}`, { cookie: cookieHeader(credential.cookies, segmentPath) }), 200, 'a segment (under recordings/)');
  assert.equal(credential.playback.flv, `${server.flvUrl(a.streamId)}?${tokenQuery}`);
  const flv = await fetch(credential.playback.flv);
  assert.equal(flv.status, 200, 'HTTP-FLV with the token');
  const reader = flv.body!.getReader();
  assert.equal(Buffer.from((await reader.read()).value!).subarray(0, 3).toString(), 'FLV');
  await reader.cancel();
  assert.equal(await rtmpPlays(server, `${a.streamId}?${tokenQuery}`), true, 'RTMP with the token');
  assert.equal(await kcpPlays(server, `${a.streamId}?${tokenQuery}`), true, 'KCP with the token');

  // A's credential opens nothing of B, live or recorded.
  const bLive = `/live/${b.streamId}/index.m3u8`;
  const allOfA = credential.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  assert.equal(await status(`${server.httpBase}${bLive}`, { cookie: allOfA }), 403, 'B live with every cookie of A');
  assert.equal(await status(`${server.httpBase}${recB}`, { cookie: allOfA }), 403, 'B recording with every cookie of A');
  assert.equal(await status(`${server.flvUrl(b.streamId)}?${tokenQuery}`), 403, 'B over HTTP-FLV with A\'s token');
  assert.equal(await rtmpPlays(server, `${b.streamId}?${tokenQuery}`), false, 'B over RTMP with A\'s token');
  assert.equal(await kcpPlays(server, `${b.streamId}?${tokenQuery}`), false, 'B over KCP with A\'s token');

  // Expired: signed by the very key the server's API uses, but a second in the past.
  const privateKey = createPrivateKey(await readFile(path.join(server.config.dataDir, 'playback-signing-key.pem'), 'utf8'));
  const signer = { keyPairId: `local-${publicKeyFingerprint(createPublicKey(privateKey))}`, privateKey };
  const expired = issuePlaybackCredential(signer, server.httpBase, 'live', a.streamId, { expiresAt: Math.floor(Date.now() / 1000) - 1 });
  const fresh = issuePlaybackCredential(signer, server.httpBase, 'live', a.streamId, { expiresAt: Math.floor(Date.now() / 1000) + 60 });
  assert.equal(await status(live(a.streamId), { cookie: cookieHeader(fresh.cookies, livePath) }), 200, 'the same key, unexpired: accepted');
  assert.equal(await status(live(a.streamId), { cookie: cookieHeader(expired.cookies, livePath) }), 403, 'expired cookies');
  assert.equal(await status(`${server.flvUrl(a.streamId)}?token=${encodeURIComponent(expired.token)}`), 403, 'expired token');
  assert.equal(await rtmpPlays(server, `${a.streamId}?token=${encodeURIComponent(expired.token)}`), false, 'expired token over RTMP');

  // Bound to the viewer's address: another address is refused, this one plays.
  const elsewhere = (await api<Credential>(server, 'POST', `/streams/${a.streamId}/playback`, { viewerIp: '203.0.113.9' })).body;
  assert.equal(await status(live(a.streamId), { cookie: cookieHeader(elsewhere.cookies, livePath) }), 403, 'cookies for another address');
  assert.equal(await status(elsewhere.playback.flv), 403, 'token for another address');
  const here = (await api<Credential>(server, 'POST', `/streams/${a.streamId}/playback`, { viewerIp: '127.0.0.1' })).body;
  assert.equal(await status(here.playback.flv), 200, 'token for this address');

  // A tampered policy (another stream id, the signature kept) is refused.
  const forged = credential.cookies.map((c) => (c.name === 'CloudFront-Policy'
    ? `${c.name}=${toCloudFrontBase64(Buffer.from(fromCloudFrontBase64(c.value)!.toString().replace(a.streamId, b.streamId)))}`
    : `${c.name}=${c.value}`)).join('; ');
  assert.equal(await status(`${server.httpBase}${bLive}`, { cookie: forged }), 403, 'policy rewritten for B');

  // A Host header that smuggles A's path in front of B's matches nothing.
  const smuggled = await new Promise<number>((resolve, reject) => {
    http.get({
      host: '127.0.0.1', port: server.httpPort, path: bLive,
      headers: { host: `127.0.0.1:${server.httpPort}/live/${a.streamId}/x`, cookie: cookieHeader(credential.cookies, livePath) },
    }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).once('error', reject);
  });
  assert.equal(smuggled, 403, 'B with A\'s cookies and a Host carrying A\'s path');

  // Every refusal is counted by reason.
  const metrics = await (await fetch(`${server.httpBase}/metrics`)).text();
  for (const reason of ['missing', 'expired', 'wrong_resource', 'wrong_address', 'bad_signature']) {
    assert.match(metrics, new RegExp(`bridgecast_playback_refused_total\\{reason="${reason}"\\} [1-9]`), reason);
  }
});

test('private streams need a signing key: the API refuses them where private playback is not set up, and issues no credential', async (t) => {
  const { createStreamKeysHandler } = await import('@bridgecast/stream-keys');
  const server = await startTestServer({ auth: 'keys' });
  t.after(() => server.close());
  const handler = createStreamKeysHandler({
    store: server.streamKeys!, logger: server.logger,
    urls: { ingestHost: 'h', rtmpPort: 1935, kcpPort: 1935, hlsBaseUrl: 'https://cdn', flvBaseUrl: 'http://h:8080' },
  });
  const event = (method: string, rawPath: string, body?: unknown) => ({
    version: '2.0', routeKey: '$default', rawPath, rawQueryString: '', isBase64Encoded: false,
    headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}),
    requestContext: { http: { method }, stage: '$default' },
  }) as unknown as Parameters<typeof handler>[0];
  const refused = await handler(event('POST', '/streams', { name: 'nope', private: true }));
  assert.equal(refused.statusCode, 409);
  assert.match(String(refused.body), /private_playback_not_configured/);
  const created = JSON.parse(String((await handler(event('POST', '/streams', { name: 'open' }))).body)) as Created;
  const credential = await handler(event('POST', `/streams/${created.streamId}/playback`));
  assert.equal(credential.statusCode, 409);
});
