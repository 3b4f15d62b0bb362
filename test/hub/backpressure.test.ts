/** ViewerBackpressure: what a viewer with a backed-up socket is sent. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ViewerBackpressure } from '@bridgecast/media/hub/backpressure.js';
import { aacPacket, avcPacket, metadataPacket } from '../helpers/synthetic-media.js';

const MAX = 10_000;

test('admits everything while the backlog is within the bound', () => {
  const bp = new ViewerBackpressure(MAX);
  assert.ok(bp.admit(avcPacket('inter', 0), MAX, true));
  assert.equal(bp.droppedPackets, 0);
});

test('past the bound: drops until the backlog halves and a keyframe comes, and counts what it dropped', () => {
  const bp = new ViewerBackpressure(MAX);
  const dropped = [avcPacket('inter', 0, 100), aacPacket('frame', 0, 50), avcPacket('inter', 1), avcPacket('key', 2)];
  assert.equal(bp.admit(dropped[0]!, MAX + 1, true), false);
  assert.equal(bp.admit(dropped[1]!, 0, true), false, 'audio waits for the video keyframe too');
  assert.equal(bp.admit(dropped[2]!, 0, true), false, 'an inter frame cannot resume decoding');
  assert.equal(bp.admit(dropped[3]!, MAX / 2 + 1, true), false, 'a keyframe while still backed up');
  assert.equal(bp.admit(avcPacket('key', 3), MAX / 2, true), true, 'a keyframe once the backlog halved');
  assert.equal(bp.admit(avcPacket('inter', 4), MAX, true), true);
  assert.equal(bp.droppedPackets, 4);
  assert.equal(bp.droppedBytes, dropped.reduce((n, p) => n + p.payload.length, 0));
  assert.equal(bp.skips, 1);
});

test('sequence headers and metadata always get through', () => {
  const bp = new ViewerBackpressure(MAX);
  bp.admit(avcPacket('inter', 0), MAX * 10, true);
  for (const p of [avcPacket('header', 1), aacPacket('header', 1), metadataPacket({})]) assert.ok(bp.admit(p, MAX * 10, true));
});

test('an audio-only stream resumes on any packet once the backlog halved', () => {
  const bp = new ViewerBackpressure(MAX);
  assert.equal(bp.admit(aacPacket('frame', 0), MAX + 1, false), false);
  assert.equal(bp.admit(aacPacket('frame', 1), MAX, false), false);
  assert.equal(bp.admit(aacPacket('frame', 2), MAX / 2, false), true);
});

test('past twice the bound the viewer must be disconnected, even though headers and metadata pass the soft bound', () => {
  const bp = new ViewerBackpressure(MAX);
  assert.equal(bp.mustDisconnect(MAX * 2), false);
  assert.ok(bp.admit(metadataPacket({}), MAX * 2, true), 'metadata still passes below the hard bound');
  assert.equal(bp.mustDisconnect(MAX * 2 + 1), true);
});
