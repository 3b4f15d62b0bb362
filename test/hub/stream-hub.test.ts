/** The stream hub: one publisher per stream, instant start for viewers, waiting viewers, shutdown. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { StreamHub } from '@bridgecast/media/hub/stream-hub.js';
import type { StreamSubscriber } from '@bridgecast/media/hub/subscriber.js';
import { aacPacket, avcPacket, metadataPacket } from '../helpers/synthetic-media.js';

class RecordingViewer implements StreamSubscriber {
  readonly protocol = 'test';
  readonly packets: MediaPacket[] = [];
  endedWith: string | null = null;
  send(packet: MediaPacket): void { this.packets.push(packet); }
  end(reason: string): void { this.endedWith = reason; }
}

function publisher(log: string[] = []) {
  return { protocol: 'rtmp', remoteAddress: '127.0.0.1', disconnect: (reason: string) => { log.push(reason); } };
}

test('one publisher per stream: a second is refused, the same name in another app is a different stream', () => {
  const hub = new StreamHub();
  const first = hub.startPublish('live', 'cam', publisher());
  assert.ok(first.ok);
  const second = hub.startPublish('live', 'cam', publisher());
  assert.equal(second.ok, false);
  assert.match((second as { reason: string }).reason, /already being published/);
  assert.equal(hub.get('live', 'cam'), first.stream, 'no takeover');
  assert.ok(hub.startPublish('other', 'cam', publisher()).ok);
  hub.endPublish(first.stream);
  assert.ok(hub.startPublish('live', 'cam', publisher()).ok, 'free again once the first ends');
});

test('a publisher silent for publisherTakeoverMs is replaced by a new one; one still sending is not', async () => {
  const hub = new StreamHub({ publisherTakeoverMs: 150 });
  const kicked: string[] = [];
  const first = hub.startPublish('live', 'cam', publisher(kicked));
  assert.ok(first.ok);
  const viewer = new RecordingViewer();
  hub.subscribe('live', 'cam', viewer, false);
  // Keeps sending for 300 ms, twice the takeover time: every newcomer is refused.
  for (let i = 0; i < 6; i++) {
    await sleep(50);
    first.stream.push(avcPacket('inter', i * 50));
    assert.equal(hub.startPublish('live', 'cam', publisher()).ok, false, `refused while sending (${i})`);
  }
  assert.deepEqual(kicked, []);

  await sleep(200); // silence
  const second = hub.startPublish('live', 'cam', publisher());
  assert.ok(second.ok);
  assert.equal(second.replaced, first.stream.publisher);
  assert.equal(hub.get('live', 'cam'), second.stream);
  assert.equal(kicked.length, 1);
  const silentSeconds = Number(/replaced by a new publisher after (\d+\.\d) s without media/.exec(kicked[0]!)?.[1]);
  assert.ok(silentSeconds >= 0.2, `the reason says how long it was silent: ${kicked[0]}`);
  assert.equal(first.stream.isEnded, true);
  assert.match(viewer.endedWith ?? '', /replaced/, 'the old stream ends for its viewers, as when a publisher leaves');
  assert.equal(hub.startPublish('live', 'cam', publisher()).ok, false, 'the new publisher has its own grace period');
});

test('a viewer joining a live stream gets metadata, sequence headers, then the GOP from the last keyframe; packets are shared, not copied', () => {
  const hub = new StreamHub();
  const result = hub.startPublish('live', 'cam', publisher());
  assert.ok(result.ok);
  const stream = result.stream;
  const meta = metadataPacket({ width: 320 });
  const vh = avcPacket('header', 0);
  const ah = aacPacket('header', 0);
  const oldGop = [avcPacket('key', 0), avcPacket('inter', 33)];
  const gop = [avcPacket('key', 66), aacPacket('frame', 70), avcPacket('inter', 100)];
  [meta, vh, ah, ...oldGop, ...gop].forEach((p) => stream.push(p));

  const early = new RecordingViewer();
  const late = new RecordingViewer();
  hub.subscribe('live', 'cam', late, false);
  assert.deepEqual(late.packets, [meta, vh, ah, ...gop]);
  assert.ok(late.packets.every((p, i) => p === [meta, vh, ah, ...gop][i]), 'the same MediaPacket objects');

  hub.subscribe('live', 'cam', early, false);
  const next = avcPacket('inter', 133);
  stream.push(next);
  assert.equal(late.packets.at(-1), next);
  assert.equal(early.packets.at(-1), next);
  assert.equal(stream.subscriberCount, 2);
});

test('viewers may wait for a stream that is not live yet and attach when it is published', () => {
  const hub = new StreamHub({ maxWaitingViewers: 1 });
  const waiting = new RecordingViewer();
  const demands: string[] = [];
  hub.on('demand', (app, name) => demands.push(`${app}/${name}`));
  assert.equal(hub.subscribe('live', 'soon', new RecordingViewer(), false), false, 'without wait: refused');
  assert.equal(hub.subscribe('live', 'soon', waiting, true), true);
  assert.equal(hub.subscribe('live', 'soon', new RecordingViewer(), true), false, 'the waiting room is bounded');
  assert.deepEqual(demands, ['live/soon']);
  assert.equal(hub.waitingFor('live', 'soon'), 1);

  const result = hub.startPublish('live', 'soon', publisher());
  assert.ok(result.ok);
  assert.equal(hub.waitingFor('live', 'soon'), 0);
  const packet = avcPacket('key', 0);
  result.stream.push(packet);
  assert.deepEqual(waiting.packets, [packet]);
});

test('a viewer that leaves stops receiving; the end of a publish ends its viewers', () => {
  const hub = new StreamHub();
  const result = hub.startPublish('live', 'cam', publisher());
  assert.ok(result.ok);
  const leaving = new RecordingViewer();
  const staying = new RecordingViewer();
  hub.subscribe('live', 'cam', leaving, false);
  hub.subscribe('live', 'cam', staying, false);
  hub.unsubscribe('live', 'cam', leaving);
  result.stream.push(avcPacket('key', 0));
  assert.equal(leaving.packets.length, 0);
  hub.endPublish(result.stream, 'publisher left');
  assert.equal(staying.endedWith, 'publisher left');
  assert.equal(leaving.endedWith, null);
  assert.equal(hub.get('live', 'cam'), undefined);
  result.stream.push(avcPacket('key', 1));
  assert.equal(staying.packets.length, 1, 'an ended stream delivers nothing more');
});

test('closeAll disconnects every publisher and ends live and waiting viewers', () => {
  const hub = new StreamHub();
  const disconnects: string[] = [];
  const a = hub.startPublish('live', 'a', publisher(disconnects));
  hub.startPublish('live', 'b', publisher(disconnects));
  assert.ok(a.ok);
  const watching = new RecordingViewer();
  const waiting = new RecordingViewer();
  hub.subscribe('live', 'a', watching, false);
  hub.subscribe('live', 'later', waiting, true);
  hub.closeAll('shutdown');
  assert.deepEqual(disconnects, ['shutdown', 'shutdown']);
  assert.equal(watching.endedWith, 'shutdown');
  assert.equal(waiting.endedWith, 'shutdown');
  assert.deepEqual(hub.list(), []);
  assert.equal(hub.waitingFor('live', 'later'), 0);
});
