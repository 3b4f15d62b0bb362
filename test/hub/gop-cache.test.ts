/** The GOP cache: what a viewer joining now is sent after the sequence headers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GopCache } from '@bridgecast/media/hub/gop-cache.js';
import { aacPacket, avcPacket, metadataPacket } from '../helpers/synthetic-media.js';

test('holds the packets since the last keyframe, audio included, and restarts at each keyframe', () => {
  const gop = new GopCache();
  const first = [avcPacket('key', 0), aacPacket('frame', 0), avcPacket('inter', 33)];
  first.forEach((p) => gop.add(p));
  assert.deepEqual(gop.contents, first);
  const second = [avcPacket('key', 66), aacPacket('frame', 66)];
  second.forEach((p) => gop.add(p));
  assert.deepEqual(gop.contents, second);
  assert.equal(gop.byteLength, second.reduce((n, p) => n + p.payload.length, 0));
});

test('sequence headers and metadata are not cached (the stream keeps them separately)', () => {
  const gop = new GopCache();
  [avcPacket('header', 0), aacPacket('header', 0), metadataPacket({ width: 1 }), avcPacket('key', 0)].forEach((p) => gop.add(p));
  assert.equal(gop.contents.length, 1);
  assert.ok(gop.contents[0]!.isKeyframe);
});

test('before the first keyframe: video is useless and dropped, audio keeps a short tail (audio-only streams)', () => {
  const gop = new GopCache();
  gop.add(avcPacket('inter', 0));
  assert.equal(gop.contents.length, 0);
  for (let i = 0; i < 100; i++) gop.add(aacPacket('frame', i * 23));
  assert.equal(gop.contents.length, 64);
  assert.equal(gop.contents[0]!.timestamp, 36 * 23, 'the oldest audio goes first');
});

test('a GOP past the packet or byte bound empties the cache until the next keyframe', () => {
  const byCount = new GopCache(10, 1 << 20);
  byCount.add(avcPacket('key', 0));
  for (let i = 1; i <= 10; i++) byCount.add(avcPacket('inter', i));
  assert.equal(byCount.contents.length, 0);
  byCount.add(avcPacket('inter', 11));
  assert.equal(byCount.contents.length, 0, 'nothing cached until a keyframe');
  byCount.add(avcPacket('key', 12));
  assert.equal(byCount.contents.length, 1);

  const byBytes = new GopCache(4096, 1000);
  byBytes.add(avcPacket('key', 0, 600));
  byBytes.add(avcPacket('inter', 1, 600));
  assert.equal(byBytes.contents.length, 0);
  assert.equal(byBytes.byteLength, 0);
});
