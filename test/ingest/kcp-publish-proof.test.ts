/**
 * KCP ingest with no reusable secret on the wire. The test records every
 * datagram of a real KCP publish (publishOverKcp with a stream key, through
 * a recording UDP relay), then plays the sniffer: the capture holds no
 * stream key; the publish name it does hold, sent again in a fresh session
 * from another port, is refused; replaying the captured datagrams verbatim
 * from another address does not publish either. The plain key is refused
 * over KCP and still accepted over RTMP/TCP (OBS).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { isPublishProof, publishProof } from '@bridgecast/stream-keys';
import { publishOverKcp } from '@bridgecast/media/client/index.js';
import type { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { connectRtmp } from '@bridgecast/media/relay/transport.js';
import { memoryLogger, sleep, startTestServer, waitFor, waitForStream, type TestServer } from '../helpers/media-server.js';
import { SyntheticPublisher, syntheticStream } from '../helpers/synthetic-media.js';

/** A UDP relay on 127.0.0.1 that forwards both ways and keeps a copy of every client → server datagram. */
async function recordingRelay(target: number): Promise<{ port: number; captured: Buffer[]; close(): void }> {
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  const captured: Buffer[] = [];
  let client: dgram.RemoteInfo | undefined;
  front.on('message', (msg, rinfo) => {
    client = rinfo;
    captured.push(Buffer.from(msg));
    back.send(msg, target, '127.0.0.1');
  });
  back.on('message', (msg) => {
    if (client) front.send(msg, client.port, client.address);
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  return { port: front.address().port, captured, close: () => { front.close(); back.close(); } };
}

/** A synthetic stream at about real time for `ms`. */
async function* paced(ms: number): AsyncGenerator<MediaPacket> {
  const end = Date.now() + ms;
  const packets = syntheticStream({ fps: 30, gop: 30, frameBytes: 2000 });
  for (let i = 0; Date.now() < end; i++) {
    yield packets.next().value as MediaPacket;
    if (i % 2 === 1) await sleep(33);
  }
}

async function createStream(server: TestServer): Promise<{ streamId: string; streamKey: string }> {
  const res = await fetch(`${server.httpBase}/api/streams`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'field-reporter' }),
  });
  return (await res.json()) as { streamId: string; streamKey: string };
}

/** Publishes `name` in a fresh KCP session from a new local port; resolves with the refusal, or undefined if accepted. */
async function publishFreshSession(server: TestServer, name: string): Promise<string | undefined> {
  const client = await connectRtmp(new URL(`kcp://127.0.0.1:${server.kcpPort}`), 'live');
  try {
    await client.publish(name);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    client.close('test done');
  }
}

test('a captured KCP publish holds no stream key, and neither its proof nor its datagrams publish again from another address', async (t) => {
  const logs = memoryLogger('info');
  const server = await startTestServer({ auth: 'keys', kcpEnabled: true, logger: logs.logger });
  t.after(() => server.close());
  const { streamId, streamKey } = await createStream(server);

  const relay = await recordingRelay(server.kcpPort!);
  t.after(() => relay.close());
  const publishing = publishOverKcp(`kcp://127.0.0.1:${relay.port}/live`, streamKey, paced(1500));
  await waitForStream(server.hub, streamId, 10_000);
  await publishing;
  await waitFor(() => !server.hub.get('live', streamId), 10_000, 'the publish to end');

  const wire = Buffer.concat(relay.captured).toString('latin1');
  assert.ok(relay.captured.length > 10, `captured ${relay.captured.length} datagrams`);
  assert.ok(!wire.includes(streamKey), 'the stream key never crossed the wire');
  assert.ok(!wire.includes(streamKey.slice(3, 20)), 'not even part of it');
  const sentName = /kp1\.[0-9a-f]{64}\.[A-Za-z0-9_-]{86}/.exec(wire)?.[0];
  assert.ok(sentName && isPublishProof(sentName), 'what was sent instead is a publish proof');

  // The sniffer sends what it saw in a session of its own: the proof is bound to the first session's S1.
  const refusal = await publishFreshSession(server, sentName);
  assert.match(refusal ?? 'accepted', /Unauthorized/);
  assert.ok(logs.lines.some((l) => /does not match this session/.test(JSON.stringify(l))), 'logged as a replay');

  // Or replays the datagrams verbatim from another address (port): it never gets to publish.
  const replayer = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => replayer.bind(0, '127.0.0.1', resolve));
  t.after(() => replayer.close());
  for (const datagram of relay.captured) {
    replayer.send(datagram, server.kcpPort!, '127.0.0.1');
    await sleep(2);
  }
  await sleep(1500);
  assert.equal(server.hub.get('live', streamId), undefined, 'the replay did not publish');
  console.log(`captured ${relay.captured.length} datagrams (${wire.length} bytes); the captured proof in a new session: ${refusal}`);
});

test('over KCP the plain stream key is refused; over RTMP/TCP it still publishes (OBS); a proof for another app is refused', async (t) => {
  const server = await startTestServer({ auth: 'keys', kcpEnabled: true });
  t.after(() => server.close());
  const { streamId, streamKey } = await createStream(server);

  assert.match(await publishFreshSession(server, streamKey) ?? 'accepted', /Unauthorized/, 'plain key over KCP');
  assert.equal(server.hub.get('live', streamId), undefined);

  // A proof computed for app "other" does not publish to "live", even with this session's nonce.
  const client = await connectRtmp(new URL(`kcp://127.0.0.1:${server.kcpPort}`), 'live');
  t.after(() => client.close('test done'));
  await assert.rejects(client.publish(publishProof(streamKey, 'other', client.connection.serverNonce!)), /Unauthorized/);

  const tcp = await SyntheticPublisher.start(server.rtmpPort, streamKey, { fps: 30, gop: 30, frameBytes: 500 });
  t.after(() => tcp.stop());
  await waitForStream(server.hub, streamId, 5000);
});
