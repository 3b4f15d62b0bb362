/**
 * Behaviour of a live stream with a real ffmpeg publisher: a viewer joining
 * mid-GOP starts decoding at once (GOP cache), and a second publisher on the
 * same stream is refused while the first carries on.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import { killAllChildren, startPublisher } from '../helpers/ffmpeg.js';
import { sleep, startTestServer, waitFor, waitForKeyframe, type TestServer } from '../helpers/media-server.js';

const NAME = 'live-behaviour';
let server: TestServer;
const clients: RtmpClient[] = [];

before(async () => {
  server = await startTestServer();
  startPublisher(server.rtmpUrl(NAME), { seconds: 30 });
  await waitForKeyframe(server.hub, NAME, 15_000);
});

after(async () => {
  for (const c of clients) c.close();
  await killAllChildren();
  await server.close();
});

async function connect(): Promise<RtmpClient> {
  const client = await RtmpClient.connectTcp('127.0.0.1', server.rtmpPort, { app: 'live', timeoutMs: 5000 });
  clients.push(client);
  return client;
}

/** Plays NAME and resolves with the time from the play request to the first video frame after the sequence header. */
async function joinAndTimeFirstFrame(): Promise<{ ms: number; videoPackets: MediaPacket[] }> {
  const client = await connect();
  const videoPackets: MediaPacket[] = [];
  const firstFrame = new Promise<number>((resolve) => {
    client.on('packet', (p) => {
      if (!p.isVideo) return;
      videoPackets.push(p);
      if (!p.isSequenceHeader) resolve(performance.now());
    });
  });
  const requested = performance.now();
  await client.play(NAME);
  const ms = (await firstFrame) - requested;
  client.close();
  return { ms, videoPackets };
}

test('a viewer joining mid-GOP gets a decodable keyframe within 200 ms', async (t) => {
  for (let join = 0; join < 3; join++) {
    // Join well inside a GOP, where waiting for the next keyframe would take up to 2 s.
    await waitFor(() => (server.hub.get('live', NAME)?.gop.contents.length ?? 0) > 20, 5000, 'the middle of a GOP');
    const { ms, videoPackets } = await joinAndTimeFirstFrame();
    const [header, first] = videoPackets;
    assert.ok(header?.isSequenceHeader, 'the AVC sequence header comes first');
    assert.ok(first?.isKeyframe, 'the first frame after the sequence header is a keyframe');
    assert.ok(ms < 200, `first keyframe after ${ms.toFixed(1)} ms`);
    t.diagnostic(`join ${join}: first keyframe ${ms.toFixed(1)} ms after the play request`);
    await sleep(300);
  }
});

test('a second publisher is refused with NetStream.Publish.BadName and the first keeps streaming', async () => {
  const live = server.hub.get('live', NAME);
  assert.ok(live);
  const viewer = await connect();
  let frames = 0;
  viewer.on('packet', (p) => { if (p.isVideo) frames++; });
  await viewer.play(NAME);

  const intruder = await connect();
  const statuses: string[] = [];
  intruder.on('status', (code) => statuses.push(code));
  await assert.rejects(intruder.publish(NAME), /NetStream\.Publish\.BadName/);
  assert.deepEqual(statuses, ['NetStream.Publish.BadName']);

  // ffmpeg sees the refusal too and gives up.
  const ffmpeg = startPublisher(server.rtmpUrl(NAME), { seconds: 3, width: 160, height: 90, audio: false });
  const { code } = await ffmpeg.exited;
  assert.notEqual(code, 0, 'the second ffmpeg publish should fail');
  assert.match(ffmpeg.stderr(), /BadName|already being published/);

  const framesAtRefusal = frames;
  await waitFor(() => frames >= framesAtRefusal + 15, 3000, 'frames after the refusal');
  assert.equal(server.hub.get('live', NAME), live, 'the first publisher still owns the stream');
});
