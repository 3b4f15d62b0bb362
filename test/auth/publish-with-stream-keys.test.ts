/**
 * Stream keys end to end through the running service (AUTH=keys with the
 * embedded DynamoDB-compatible store): a key issued by /api/streams
 * publishes with real ffmpeg over RTMP, viewers play by stream id, a wrong
 * key is refused, and revoking the stream cuts the live publisher off.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { killAllChildren, probeMedia, startPublisher } from '../helpers/ffmpeg.js';
import { startTestServer, waitFor, waitForKeyframe } from '../helpers/media-server.js';

after(killAllChildren);

interface CreatedStream {
  streamId: string;
  streamKey: string;
  ingest: { rtmp: string; kcp: string };
  playback: { hls: string; flv: string };
}

test('a key from the API publishes, viewers play by stream id, bad keys are refused, revocation disconnects', async (t) => {
  const server = await startTestServer({ auth: 'keys', kcpEnabled: true });
  t.after(() => server.close());

  const created = await fetch(`${server.httpBase}/api/streams`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'seoul-desk' }),
  });
  assert.equal(created.status, 201);
  const stream = (await created.json()) as CreatedStream;
  assert.equal(stream.ingest.rtmp, `rtmp://127.0.0.1:${server.rtmpPort}/live/${stream.streamKey}`);
  assert.equal(stream.ingest.kcp, `kcp://127.0.0.1:${server.kcpPort}/live/${stream.streamKey}`);
  assert.equal(stream.playback.flv, `${server.httpBase}/live/${stream.streamId}.flv`);
  assert.ok(!stream.playback.flv.includes(stream.streamKey) && !stream.playback.hls.includes(stream.streamKey));

  // An unknown key never goes live, and the refusal is counted.
  const intruder = startPublisher(server.rtmpUrl('sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), { seconds: 5 });
  const { code } = await intruder.exited;
  assert.notEqual(code, 0, 'ffmpeg must fail to publish with an unknown key');
  assert.equal(server.hub.list().length, 0);
  const metrics = await (await fetch(`${server.httpBase}/metrics`)).text();
  assert.match(metrics, /bridgecast_publish_refused_total\{code="(BadName|Unauthorized)"\} 1/);

  // The real key publishes under the stream id.
  const publisher = startPublisher(stream.ingest.rtmp, { seconds: 30 });
  await waitForKeyframe(server.hub, stream.streamId, 15_000);
  const probe = await probeMedia(stream.playback.flv, { readSeconds: 1 });
  assert.ok(probe.streams.some((s) => s.codec_type === 'video'), 'the FLV by stream id has video');

  // Revoking the stream disconnects the live publisher within seconds.
  const revokedAt = Date.now();
  assert.equal((await fetch(`${server.httpBase}/api/streams/${stream.streamId}`, { method: 'DELETE' })).status, 200);
  await waitFor(() => server.hub.get('live', stream.streamId) === undefined, 10_000, 'the revoked publisher to be cut off');
  assert.ok(Date.now() - revokedAt < 8_000);
  await publisher.stop(500);
});
