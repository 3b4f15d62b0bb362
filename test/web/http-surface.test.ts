/**
 * The HTTP port's small answers, as players and load balancers see them:
 * health, HTTP-FLV HEAD / 404 / 405 / 403, and CORS for browser players
 * (mpegts.js and hls.js fetch cross-origin from a news site).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signPlayToken } from '@bridgecast/media/auth/play-token.js';
import { startTestServer, waitForKeyframe, type TestServer } from '../helpers/media-server.js';
import { SyntheticPublisher } from '../helpers/synthetic-media.js';

const SECRET = 'surface-test-secret-0123456789';
const tokenFor = (stream: string) => signPlayToken(SECRET, 'live', stream, Math.floor(Date.now() / 1000) + 60);
let server: TestServer;
let publisher: SyntheticPublisher;
before(async () => {
  server = await startTestServer({ playTokenSecret: SECRET });
  publisher = await SyntheticPublisher.start(server.rtmpPort, 'desk', { fps: 30, gop: 30, frameBytes: 1000 });
  await waitForKeyframe(server.hub, 'desk');
});
after(async () => {
  publisher.stop();
  await server.close();
});

test('/healthz answers 200 with the number of live streams (the NLB and ECS health checks read it)', async () => {
  const res = await fetch(`${server.httpBase}/healthz`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok', streams: 1 });
});

test('HTTP-FLV: HEAD of a live stream is 200 video/x-flv without a body; unknown streams 404, other methods 405, no token 403', async () => {
  const token = tokenFor('desk');
  const head = await fetch(`${server.flvUrl('desk')}?token=${token}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-type'), 'video/x-flv');
  assert.equal(head.headers.get('access-control-allow-origin'), '*');
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  assert.equal(server.hub.get('live', 'desk')!.viewerCount, 0, 'a HEAD does not become a viewer');

  const missing = await fetch(`${server.flvUrl('nobody')}?token=${tokenFor('nobody')}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get('access-control-allow-origin'), '*', 'a browser player can read the error');
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'stream_not_found');

  const post = await fetch(server.flvUrl('desk'), { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  await post.arrayBuffer();

  const noToken = await fetch(server.flvUrl('desk'));
  assert.equal(noToken.status, 403);
  await noToken.arrayBuffer();
  const otherStream = await fetch(`${server.flvUrl('desk')}?token=${tokenFor('nobody')}`);
  assert.equal(otherStream.status, 403, 'a token is for one stream');
  await otherStream.arrayBuffer();
});

test('a CORS preflight is answered with 204 and the methods and headers a player needs', async () => {
  const res = await fetch(server.flvUrl('desk'), {
    method: 'OPTIONS',
    headers: { Origin: 'https://news.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-allow-methods') ?? '', /GET/);
  assert.match(res.headers.get('access-control-allow-headers') ?? '', /Range/i);
});
