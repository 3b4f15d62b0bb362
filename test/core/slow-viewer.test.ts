/**
 * Viewers that stop reading (an RTMP client that never reads after play, an
 * HTTP-FLV client that pauses its socket) must not make the server buffer
 * without bound: each one's backlog stays under the configured bound plus
 * one packet, what it misses is counted, and a viewer that does read keeps
 * getting the stream. A fast synthetic stream (~40 Mbit/s, ~30 MiB in all)
 * fills the kernel's socket buffers within a second or two.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { after, before, test } from 'node:test';
import type { ViewerBackpressure } from '@bridgecast/media/hub/backpressure.js';
import type { StreamSubscriber } from '@bridgecast/media/hub/subscriber.js';
import { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import { sleep, startTestServer, waitFor, waitForStream, type TestServer } from '../helpers/media-server.js';
import { SyntheticPublisher } from '../helpers/synthetic-media.js';

const BACKLOG = 256 * 1024;
const FRAME = 40 * 1024; // keyframes are 4x: 160 KiB
const LARGEST_PACKET = FRAME * 4 + 64; // + FLV tag / RTMP chunk headers
const NAME = 'firehose';

/** A full garbage collection, so memory readings show what is held rather than what awaits collection. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/**
 * Heap and buffers still held: the least of a few readings, each after a
 * full collection, 50 ms apart. A single reading right after collecting
 * counted +29.2 and +29.6 MiB in two full-suite CI runs, about everything
 * the stream had pushed, where this file alone holds 1-2 MiB, idle or next
 * to two CPU hogs. The likely cause: V8 frees a dead buffer's memory on a
 * background thread after the collection that found it dead, late when
 * every core is busy. What a viewer really holds stays in every reading.
 */
async function heldBytes(): Promise<number> {
  let least = Infinity;
  for (let reading = 0; reading < 3; reading++) {
    collectGarbage();
    await sleep(50);
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    least = Math.min(least, heapUsed + arrayBuffers);
  }
  return least;
}

let server: TestServer;
let publisher: SyntheticPublisher;
const clients: RtmpClient[] = [];
const requests: http.ClientRequest[] = [];

before(async () => {
  server = await startTestServer({ viewerBacklogBytes: BACKLOG });
  publisher = await SyntheticPublisher.start(server.rtmpPort, NAME, { fps: 100, gop: 25, frameBytes: FRAME });
  await waitForStream(server.hub, NAME);
});

after(async () => {
  for (const c of clients) c.close();
  for (const r of requests) r.destroy();
  publisher.stop();
  await server.close();
});

async function rtmpViewer(): Promise<RtmpClient> {
  const client = await RtmpClient.connectTcp('127.0.0.1', server.rtmpPort, { app: 'live' });
  clients.push(client);
  return client;
}

type ServerViewer = StreamSubscriber & { backpressure: ViewerBackpressure };

/** The server-side viewers of the stream, with the bytes queued in each one's socket. */
function serverViewers(): { viewer: ServerViewer; queued: number }[] {
  const stream = server.hub.get('live', NAME);
  assert.ok(stream);
  // Test-only look inside: the hub keeps its subscribers private.
  return [...stream['subscribers']].map((s) => {
    const viewer = s as ServerViewer;
    const queued = 'res' in viewer
      ? (viewer as unknown as { res: http.ServerResponse }).res.writableLength
      : (viewer as unknown as { connection: { queuedBytes: number } }).connection.queuedBytes;
    return { viewer, queued };
  });
}

test('stalled RTMP and HTTP-FLV viewers stay within their backlog bound while a reading viewer keeps playing', async (t) => {
  // The stalled RTMP viewer: handshake, connect, play, then never read again.
  const stalledRtmp = await rtmpViewer();
  await stalledRtmp.play(NAME);
  stalledRtmp.connection.transport.pause();

  // The stalled HTTP-FLV viewer: reads the response head, then pauses its socket.
  await new Promise<void>((resolve, reject) => {
    const req = http.get(server.flvUrl(NAME), (res) => {
      assert.equal(res.statusCode, 200);
      res.pause();
      resolve();
    });
    req.on('error', reject);
    requests.push(req);
  });

  // The healthy viewer reads everything.
  const reader = await rtmpViewer();
  let readerFrames = 0;
  let readerLastTimestamp = 0;
  reader.on('packet', (p) => {
    if (p.isVideo && !p.isSequenceHeader) {
      readerFrames++;
      readerLastTimestamp = p.timestamp;
    }
  });
  await reader.play(NAME);
  assert.equal(serverViewers().length, 3);

  const heldBefore = await heldBytes();
  const framesAtStart = publisher.videoFramesSent;
  const bytesAtStart = publisher.bytesSent;
  let maxQueued = 0;
  const started = Date.now();
  while (Date.now() - started < 6000) {
    for (const { queued } of serverViewers()) maxQueued = Math.max(maxQueued, queued);
    await sleep(5);
  }
  const framesSent = publisher.videoFramesSent - framesAtStart;
  const bytesSent = publisher.bytesSent - bytesAtStart;
  assert.ok(bytesSent > 20 * 1024 * 1024, `the stream should push well past the socket buffers (sent ~${(bytesSent / 2 ** 20).toFixed(1)} MiB)`);

  assert.ok(maxQueued <= BACKLOG + LARGEST_PACKET, `a viewer queued ${maxQueued} bytes (bound ${BACKLOG} + one packet)`);
  // The hub keeps subscribers in the order they joined: the stalled RTMP viewer, the stalled FLV viewer, the reader.
  // (On a busy machine the reader, which shares this process's CPU with the server and the publisher, may fall
  // behind and skip too: counting every viewer that dropped made this test fail under load.)
  const viewers = serverViewers();
  assert.equal(viewers.length, 3, 'no viewer was disconnected');
  const stalled = viewers.slice(0, 2);
  assert.deepEqual(stalled.map(({ viewer }) => viewer.protocol).sort(), ['flv', 'rtmp']);
  for (const { viewer } of stalled) assert.ok(viewer.backpressure.droppedPackets > 0, `the stalled ${viewer.protocol} viewer dropped packets`);
  for (const { viewer } of stalled) {
    assert.ok(viewer.backpressure.skips >= 1);
    assert.ok(viewer.backpressure.droppedBytes > 10 * 1024 * 1024, `${viewer.protocol} dropped ${viewer.backpressure.droppedBytes} bytes`);
  }

  // The reading viewer kept up: it is at the live edge and saw (nearly) every frame.
  const lastSent = server.hub.get('live', NAME)!.gop.contents.at(-1)!.timestamp;
  await waitFor(() => readerLastTimestamp >= lastSent, 2000, 'the reading viewer to reach the live edge');
  // Memory still held with both stalled viewers connected, read once the reader is at the live edge (on a
  // loaded machine, what was still on its way to it counted too: +29.6 MiB in one CI run). Unbounded, each
  // stalled viewer would hold what the kernel could not absorb (over 12 MiB apiece); bounded, the growth is
  // their backlogs plus the GOP cache and its cached encodings, the publisher's queue and garbage of the reader.
  const heldGrowth = (await heldBytes()) - heldBefore;
  assert.ok(readerFrames >= framesSent * 0.9, `reader got ${readerFrames} of ${framesSent} frames`);

  t.diagnostic(`pushed ${(bytesSent / 2 ** 20).toFixed(1)} MiB; max viewer backlog ${maxQueued} B; heap + buffers held +${(heldGrowth / 2 ** 20).toFixed(1)} MiB`);
  t.diagnostic(`dropped: ${stalled.map(({ viewer }) => `${viewer.protocol} ${viewer.backpressure.droppedPackets} packets/${viewer.backpressure.skips} skips`).join(', ')}`);
  assert.ok(heldGrowth < 16 * 1024 * 1024, `heap + buffers grew ${(heldGrowth / 2 ** 20).toFixed(1)} MiB`);
});
