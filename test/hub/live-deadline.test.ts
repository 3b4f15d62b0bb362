/** The live deadline: which late frames a KCP send path drops, in which order, and how old its queue is. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { isNonReferenceFrame, LiveDeadline, SendQueueAge } from '@bridgecast/media/hub/live-deadline.js';
import { aacPacket, avcPacket, metadataPacket } from '../helpers/synthetic-media.js';

const BUDGET = 400;
const LATE = BUDGET + 1;

/** An H.264 inter frame with one P slice whose nal_ref_idc is `refIdc` (0: nothing refers to it). */
function slice(refIdc: number, timestamp: number): MediaPacket {
  const body = Buffer.from([0x27, 1, 0, 0, 0, 0, 0, 0, 2, (refIdc << 5) | 1, 0x88]);
  return new MediaPacket(9, timestamp, body);
}

test('a non-reference H.264 frame is recognised from its slice NAL headers; reference and filler frames are not', () => {
  assert.equal(isNonReferenceFrame(slice(0, 0)), true);
  assert.equal(isNonReferenceFrame(slice(2, 0)), false);
  assert.equal(isNonReferenceFrame(avcPacket('inter', 0)), false, 'no slice found: treated as a reference');
  assert.equal(isNonReferenceFrame(avcPacket('key', 0)), false);
});

test('within the budget nothing is dropped', () => {
  const deadline = new LiveDeadline(BUDGET);
  for (const packet of [avcPacket('key', 0), slice(2, 33), slice(0, 66), aacPacket('frame', 70)]) {
    assert.equal(deadline.decide(packet, BUDGET, true), null);
  }
  assert.equal(deadline.totalDropped, 0);
});

test('late: cheapest first — a non-reference frame alone, then the rest of the GOP up to the next keyframe, which is never dropped', () => {
  const deadline = new LiveDeadline(BUDGET);
  assert.equal(deadline.decide(slice(0, 33), LATE, true), 'non-reference', 'nothing refers to it: dropping it costs one frame');
  assert.equal(deadline.decide(slice(2, 66), BUDGET, true), null, 'back under the budget: sent');
  assert.equal(deadline.decide(slice(2, 100), LATE, true), 'gop', 'a late reference frame: the rest of the GOP goes');
  assert.equal(deadline.decide(slice(2, 133), 0, true), 'gop', 'even once the queue is short: the frames after it cannot decode');
  assert.equal(deadline.decide(slice(0, 166), 0, true), 'gop');
  assert.equal(deadline.decide(avcPacket('header', 170), 10_000, true), null, 'sequence headers always pass');
  assert.equal(deadline.decide(metadataPacket({ width: 1 }), 10_000, true), null, 'metadata always passes');
  assert.equal(deadline.decide(avcPacket('key', 2000), 10_000, true), null, 'the keyframe the receiver needs is sent however late');
  assert.equal(deadline.decide(slice(2, 2033), BUDGET, true), null, 'decoding resumes after it');
  assert.deepEqual(deadline.dropped, { nonReference: 1, gop: 3, audio: 0 });
});

test('audio is not dropped before video: only once video is being skipped and the queue is still past 1.5x the budget', () => {
  const deadline = new LiveDeadline(BUDGET);
  assert.equal(deadline.decide(aacPacket('frame', 0), 5 * BUDGET, true), null, 'late, but video has not been dropped yet');
  assert.equal(deadline.decide(slice(2, 33), LATE, true), 'gop');
  assert.equal(deadline.decide(aacPacket('frame', 40), 1.5 * BUDGET, true), null, 'video is going; audio waits to see if that was enough');
  assert.equal(deadline.decide(aacPacket('frame', 60), 1.5 * BUDGET + 1, true), 'audio', 'still late with video gone: audio alone is late');
  assert.equal(deadline.decide(aacPacket('header', 61), 10 * BUDGET, true), null, 'the AAC config always passes');
  assert.equal(deadline.decide(avcPacket('key', 2000), 10 * BUDGET, true), null);
  assert.equal(deadline.decide(aacPacket('frame', 2010), 10 * BUDGET, true), null, 'video is flowing again: audio is kept');
  assert.deepEqual(deadline.dropped, { nonReference: 0, gop: 1, audio: 1 });
});

test('a GOP tail that would still be queued when the next keyframe arrives goes early (once half the budget is spent), so the next GOP starts on an empty queue', () => {
  const deadline = new LiveDeadline(BUDGET);
  assert.equal(deadline.decide(avcPacket('key', 0), 0, true), null);
  assert.equal(deadline.decide(slice(2, 1500), BUDGET, true), null, 'the GOP length is not known yet: only the budget counts');
  assert.equal(deadline.decide(avcPacket('key', 2000), 0, true), null, 'keyframes 2 s apart');
  assert.equal(deadline.decide(slice(2, 3500), BUDGET / 2, true), null, 'half the budget, 500 ms before the next keyframe: sent');
  assert.equal(deadline.decide(slice(2, 3700), BUDGET / 2 + 1, true), null, 'past half the budget, but 300 ms of GOP left: the queue drains in time');
  assert.equal(deadline.decide(slice(2, 3800), 250, true), 'gop', '250 ms queued with 200 ms of GOP left: the next GOP would start late');
  assert.equal(deadline.decide(slice(2, 3833), 0, true), 'gop');
  assert.equal(deadline.decide(avcPacket('key', 4000), 100, true), null);
  assert.equal(deadline.decide(slice(2, 5900), BUDGET / 2, true), null, 'at most half the budget never drops: a short queue at the end of a GOP is normal');
  assert.deepEqual(deadline.dropped, { nonReference: 0, gop: 2, audio: 0 });
});

test('an audio-only stream drops late audio', () => {
  const deadline = new LiveDeadline(BUDGET);
  assert.equal(deadline.decide(aacPacket('frame', 0), BUDGET, false), null);
  assert.equal(deadline.decide(aacPacket('frame', 23), LATE, false), 'audio');
});

test('queue age: the oldest byte still queued dates from the write that holds it', () => {
  const age = new SendQueueAge(4);
  age.record(100, 1000); // bytes 0..100
  age.record(100, 1100); // 100..200
  age.record(100, 1200); // 200..300
  assert.equal(age.ageMs(0, 1300), 0, 'empty queue');
  assert.equal(age.ageMs(300, 1300), 300, 'everything queued: the first write is the oldest');
  assert.equal(age.ageMs(150, 1300), 200, 'the oldest queued byte is inside the second write');
  assert.equal(age.ageMs(100, 1300), 100);
  age.record(100, 1300);
  age.record(100, 1400);
  age.record(100, 1500); // the ring of 4 forgets the oldest writes
  assert.equal(age.ageMs(600, 1500), 300, 'a queue older than the ring reads as its oldest remembered write');
});

test('drain time: the queue over the rate it drained at while not empty, which behind a narrow link is longer than its age', () => {
  const age = new SendQueueAge();
  // 3 bytes/ms written, 2 bytes/ms leave: the queue grows by 1 byte/ms.
  let queued = 0;
  for (let now = 0; now <= 1000; now += 10) {
    age.record(30, now);
    queued += 30 - (now > 0 ? 20 : 0);
    age.drainMs(queued, now);
  }
  const ageMs = age.ageMs(queued, 1000);
  const drainMs = age.drainMs(queued, 1000);
  assert.ok(Math.abs(drainMs - queued / 2) < 10, `drain ${drainMs} ms for ${queued} bytes at 2 bytes/ms`);
  assert.ok(drainMs > 1.4 * ageMs, `drain ${drainMs} ms vs age ${ageMs} ms`);
  assert.equal(age.drainMs(0, 1010), 0, 'an empty queue drains at once');
});

test('the early GOP-tail drop counts the queue\'s drain time, not only its age', () => {
  const deadline = new LiveDeadline(BUDGET);
  deadline.decide(avcPacket('key', 0), 0, true);
  deadline.decide(avcPacket('key', 2000), 0, true);
  assert.equal(deadline.decide(slice(2, 3400), BUDGET / 2 + 1, true, 500), null, '500 ms to drain, 600 ms of GOP left');
  assert.equal(deadline.decide(slice(2, 3500), BUDGET / 2 + 1, true, 700), 'gop', '700 ms to drain, 500 ms of GOP left: the next keyframe would wait');
});

test('after a skip, the next GOP is judged by how long its frames would wait, not by the age of the old tail still draining ahead of them', () => {
  const deadline = new LiveDeadline(BUDGET);
  deadline.decide(avcPacket('key', 0), 0, true);
  assert.equal(deadline.decide(slice(2, 1500), LATE, true, 0), 'gop', 'drain rate unknown: the age decides');
  assert.equal(deadline.decide(avcPacket('key', 2000), LATE + 50, true, 150), null);
  assert.equal(deadline.decide(slice(2, 2033), LATE + 50, true, 120), null, 'old bytes, but 120 ms until they are gone');
  assert.equal(deadline.decide(slice(2, 2066), LATE + 50, true, LATE), 'gop', 'both past the budget: late');
});
