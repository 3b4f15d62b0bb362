/**
 * Refusals a user can read, with the real clients: ffmpeg publishing to an
 * application the server does not serve is told so (and exits non-zero
 * instead of "succeeding" into a stream nobody can watch); ffprobe, over
 * RTMP, and our KCP client playing a stream that is not live wait a bounded
 * time and then hear NetStream.Play.StreamNotFound, instead of hanging.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { playOverKcp } from '../../services/media/src/client/index.js';
import { RtmpClient } from '../../services/media/src/rtmp/client.js';
import { killAllChildren, spawnTracked, startPublisher } from '../helpers/ffmpeg.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/media-server.js';

const PLAY_WAIT_MS = 1500;
let server: TestServer;

before(async () => {
  server = await startTestServer({ kcpEnabled: true, limits: { ...(await import('../../services/media/src/limits.js')).loadLimits({}), playWaitMs: PLAY_WAIT_MS } });
});
after(async () => {
  await killAllChildren();
  await server?.close();
});

describe('refusals with real clients', () => {
  it('ffmpeg publishing to an application this server does not serve fails with a readable reason, and nothing is listed', async () => {
    const publisher = startPublisher(server.rtmpUrl('cam', 'stream'), { seconds: 3 });
    const { code } = await publisher.exited;
    assert.notEqual(code, 0, 'ffmpeg reports the failure');
    assert.match(publisher.stderr(), /application "stream" not found on this server; use rtmp:\/\/<host>\/live\/<stream key>/);
    assert.deepEqual(server.hub.list(), []);
    await assert.rejects(RtmpClient.connectTcp('127.0.0.1', server.rtmpPort, { app: 'stream', timeoutMs: 5000 }), /NetConnection\.Connect\.InvalidApp/);
  });

  it('ffprobe playing a stream that is not live gets NetStream.Play.StreamNotFound after the bounded wait', async () => {
    const started = Date.now();
    const probe = spawnTracked('ffprobe', ['-hide_banner', '-v', 'error', '-rw_timeout', '60000000', server.rtmpUrl('nobody-here')]);
    const { code } = await probe.exited;
    const waited = Date.now() - started;
    assert.notEqual(code, 0);
    assert.match(probe.stderr(), /live\/nobody-here is not live \(waited 2 s for its publisher\)/);
    assert.ok(waited >= PLAY_WAIT_MS, `answered after ${waited} ms`);
    assert.equal(server.hub.waitingFor('live', 'nobody-here'), 0, 'the viewer no longer waits');
  });

  it('a viewer that arrives shortly before its publisher still plays', async () => {
    const probe = spawnTracked('ffprobe', ['-hide_banner', '-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', server.rtmpUrl('soon')], true);
    await waitFor(() => server.hub.waitingFor('live', 'soon') === 1, 10_000, 'ffprobe to wait');
    startPublisher(server.rtmpUrl('soon'), { seconds: 4 });
    const { code } = await probe.exited;
    assert.equal(code, 0, probe.stderr());
    assert.match(probe.stdout(), /h264/);
  });

  it('KCP play of a stream that is not live ends with NetStream.Play.StreamNotFound and the connection closes', async () => {
    const player = await playOverKcp(`kcp://127.0.0.1:${server.kcpPort}/live`, 'absent');
    const statuses: string[] = [];
    player.client.on('status', (code) => statuses.push(code));
    const closed = new Promise<void>((resolve) => player.client.once('close', () => resolve()));
    let packets = 0;
    for await (const _ of player) packets++;
    await closed;
    assert.equal(packets, 0);
    assert.deepEqual(statuses, ['NetStream.Play.StreamNotFound']);
    player.client.connection.transport.destroy();
  });
});
