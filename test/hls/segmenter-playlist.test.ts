import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newBroadcastId } from '../../services/media/src/hls/broadcast-id.js';
import { TimestampUnwrapper } from '../../services/media/src/hls/broadcast-muxer.js';
import { LiveWindow, renderRecordingPlaylist, type PlaylistSegment } from '../../services/media/src/hls/playlist.js';
import { Segmenter, type Placement } from '../../services/media/src/hls/segmenter.js';
import { parseMediaPlaylist } from '../helpers/hls-playlist.js';

/** Feeds a 30 fps video track with a keyframe every `gop` frames; returns the cut durations. */
function videoCuts(segmenter: Segmenter, frames: number, gop: number): number[] {
  const cuts: number[] = [];
  for (let i = 0; i < frames; i++) {
    const p = segmenter.place({ dtsMs: Math.round((i * 1000) / 30), startsSegment: i % gop === 0, clock: true });
    if (p.action === 'cut') cuts.push(p.durationMs);
  }
  return cuts;
}

describe('Segmenter', () => {
  it('skips frames before the first keyframe, then cuts at the first keyframe at or after the target', () => {
    const s = new Segmenter(2000);
    const actions: Placement['action'][] = [];
    actions.push(s.place({ dtsMs: 0, startsSegment: false, clock: true }).action);
    actions.push(s.place({ dtsMs: 33, startsSegment: true, clock: true }).action);
    actions.push(s.place({ dtsMs: 1033, startsSegment: true, clock: true }).action);
    actions.push(s.place({ dtsMs: 2033, startsSegment: true, clock: true }).action);
    assert.deepEqual(actions, ['skip', 'start', 'append', 'cut']);
  });

  it('groups short GOPs up to the target and follows a GOP longer than the target', () => {
    assert.deepEqual(videoCuts(new Segmenter(2000), 300, 30), [2000, 2000, 2000, 2000]);
    assert.deepEqual(videoCuts(new Segmenter(2000), 300, 150), [5000]);
    assert.deepEqual(videoCuts(new Segmenter(2000), 300, 45), [3000, 3000, 3000]);
  });

  it('ends the last segment including the duration of its last frame', () => {
    const s = new Segmenter(2000);
    videoCuts(s, 75, 60); // keyframes at 0 and 2 s, frames up to 2467 ms
    assert.equal(s.finish(), 2467 - 2000 + (2467 - 2433)); // last frame lasts as long as the step before it
    assert.equal(s.finish(), null);
  });

  it('cuts at the next keyframe when asked, however short the segment', () => {
    const s = new Segmenter(2000);
    s.place({ dtsMs: 0, startsSegment: true, clock: true });
    s.requestCut();
    assert.deepEqual(s.place({ dtsMs: 500, startsSegment: true, clock: true }), { action: 'cut', durationMs: 500 });
    assert.equal(s.place({ dtsMs: 1000, startsSegment: true, clock: true }).action, 'append');
  });

  it('clocks durations by the clock track only (audio interleaved with video)', () => {
    const s = new Segmenter(2000);
    s.place({ dtsMs: 0, startsSegment: true, clock: true });
    s.place({ dtsMs: 40, startsSegment: false, clock: true });
    s.place({ dtsMs: 2100, startsSegment: false, clock: false });
    assert.equal(s.finish(), 80);
  });
});

describe('TimestampUnwrapper', () => {
  it('continues past the 32-bit wrap of FLV timestamps', () => {
    const u = new TimestampUnwrapper();
    assert.deepEqual([2 ** 32 - 40, 2 ** 32 - 10, 5, 30].map((t) => u.unwrap(t)), [2 ** 32 - 40, 2 ** 32 - 10, 2 ** 32 + 5, 2 ** 32 + 30]);
  });
});

const seg = (uri: string, durationSec: number, discontinuity = false): PlaylistSegment => ({ uri, durationSec, discontinuity });

describe('LiveWindow', () => {
  it('slides, counts media and discontinuity sequences, and renders a valid playlist', () => {
    const w = new LiveWindow(3, 2);
    w.add(seg('a/0.ts', 2));
    w.add(seg('a/1.ts', 2.5));
    w.add(seg('b/0.ts', 2, true)); // publisher reconnected
    w.add(seg('b/1.ts', 2));
    let p = parseMediaPlaylist(w.render());
    assert.equal(p.mediaSequenceBase, 1);
    assert.equal(p.discontinuitySequenceBase, 0);
    assert.equal(p.targetDuration, 3);
    assert.deepEqual(p.segments.map((s) => [s.uri, s.duration, s.discontinuity ?? false]), [['a/1.ts', 2.5, false], ['b/0.ts', 2, true], ['b/1.ts', 2, false]]);
    assert.equal(p.endlist, false);
    w.add(seg('b/2.ts', 2));
    w.add(seg('b/3.ts', 2));
    p = parseMediaPlaylist(w.render());
    assert.equal(p.mediaSequenceBase, 3);
    assert.equal(p.discontinuitySequenceBase, 1, 'the discontinuity slid out of the window');
    assert.equal(p.targetDuration, 3, 'the target duration never shrinks');
  });
});

describe('recording playlist', () => {
  it('is an EVENT playlist while live and gets EXT-X-ENDLIST when the broadcast ends', () => {
    const segments = [seg('0.ts', 2), seg('1.ts', 4.2), seg('2.ts', 1.1)];
    const live = parseMediaPlaylist(renderRecordingPlaylist(segments, false, 2));
    assert.equal(live.playlistType, 'EVENT');
    assert.equal(live.endlist, false);
    assert.equal(live.targetDuration, 5);
    const ended = parseMediaPlaylist(renderRecordingPlaylist(segments, true, 2));
    assert.equal(ended.endlist, true);
    assert.equal(ended.mediaSequenceBase, 0);
    assert.deepEqual(ended.segments.map((s) => s.uri), ['0.ts', '1.ts', '2.ts']);
  });
});

describe('broadcast ids', () => {
  it('sort by time and differ within a second', () => {
    const a = newBroadcastId(new Date('2026-11-25T04:12:09.123Z'));
    assert.match(a, /^20261125T041209Z-[0-9a-f]{4}$/);
    assert.ok(newBroadcastId(new Date('2026-11-25T04:12:10Z')) > a);
  });
});
