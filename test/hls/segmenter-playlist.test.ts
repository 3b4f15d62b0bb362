import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newBroadcastId } from '../../services/media/src/hls/broadcast-id.js';
import { TimestampUnwrapper } from '../../services/media/src/hls/broadcast-muxer.js';
import { LiveWindow, maxSegmentMsFor, parseLivePlaylist, renderRecordingPlaylist, targetDurationFor, type PlaylistSegment } from '../../services/media/src/hls/playlist.js';
import { Segmenter, type Placement, type SegmenterLimits } from '../../services/media/src/hls/segmenter.js';
import { parseMediaPlaylist } from '../helpers/hls-playlist.js';

/** Limits with caps far enough not to matter unless given. */
const limits = (targetMs: number, maxMs = 100 * targetMs, maxBytes = Infinity): SegmenterLimits => ({ targetMs, maxMs, maxBytes });

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
    const s = new Segmenter(limits(2000));
    const actions: Placement['action'][] = [];
    actions.push(s.place({ dtsMs: 0, startsSegment: false, clock: true }).action);
    actions.push(s.place({ dtsMs: 33, startsSegment: true, clock: true }).action);
    actions.push(s.place({ dtsMs: 1033, startsSegment: true, clock: true }).action);
    actions.push(s.place({ dtsMs: 2033, startsSegment: true, clock: true }).action);
    assert.deepEqual(actions, ['skip', 'start', 'append', 'cut']);
  });

  it('groups short GOPs up to the target and follows a GOP longer than the target', () => {
    assert.deepEqual(videoCuts(new Segmenter(limits(2000)), 300, 30), [2000, 2000, 2000, 2000]);
    assert.deepEqual(videoCuts(new Segmenter(limits(2000)), 300, 150), [5000]);
    assert.deepEqual(videoCuts(new Segmenter(limits(2000)), 300, 45), [3000, 3000, 3000]);
  });

  it('ends the last segment including the duration of its last frame', () => {
    const s = new Segmenter(limits(2000));
    videoCuts(s, 75, 60); // keyframes at 0 and 2 s, frames up to 2467 ms
    assert.equal(s.finish(), 2467 - 2000 + (2467 - 2433)); // last frame lasts as long as the step before it
    assert.equal(s.finish(), null);
  });

  it('cuts at the next keyframe when asked, however short the segment', () => {
    const s = new Segmenter(limits(2000));
    s.place({ dtsMs: 0, startsSegment: true, clock: true });
    s.requestCut();
    assert.deepEqual(s.place({ dtsMs: 500, startsSegment: true, clock: true }), { action: 'cut', durationMs: 500 });
    assert.equal(s.place({ dtsMs: 1000, startsSegment: true, clock: true }).action, 'append');
  });

  it('cuts a GOP longer than the cap at the cap, on any frame, and says so', () => {
    const s = new Segmenter(limits(2000, 6000));
    const cuts: Placement[] = [];
    for (let i = 0; i < 600; i++) { // 20 s at 30 fps, keyframe every 10 s
      const p = s.place({ dtsMs: Math.round((i * 1000) / 30), startsSegment: i % 300 === 0, clock: true });
      if (p.action === 'cut') cuts.push(p);
    }
    assert.deepEqual(cuts, [
      { action: 'cut', durationMs: 6000, forced: 'duration' },
      { action: 'cut', durationMs: 4000 }, // the keyframe at 10 s
      { action: 'cut', durationMs: 6000, forced: 'duration' },
    ]);
  });

  it('cuts on audio frames when a video stream sends only audio, and at the byte cap', () => {
    const s = new Segmenter(limits(2000, 6000, 10_000));
    s.place({ dtsMs: 0, startsSegment: true, clock: true });
    const cuts: Placement[] = [];
    for (let t = 23; t <= 20_000; t += 23) { // video stopped: only audio follows
      const p = s.place({ dtsMs: t, startsSegment: false, clock: false, segmentBytes: 100 });
      if (p.action === 'cut') cuts.push(p);
    }
    assert.deepEqual(cuts.map((c) => c.action === 'cut' && c.forced), ['duration', 'duration', 'duration']);
    assert.deepEqual(s.place({ dtsMs: 20_100, startsSegment: false, clock: false, segmentBytes: 10_000 }), { action: 'cut', durationMs: 20_100 - 18_009, forced: 'bytes' });
  });

  it('never reports a duration above the cap, even across a timestamp jump', () => {
    const s = new Segmenter(limits(2000, 6000));
    s.place({ dtsMs: 0, startsSegment: true, clock: true });
    assert.deepEqual(s.place({ dtsMs: 60_000, startsSegment: true, clock: true }), { action: 'cut', durationMs: 6000 });
    s.place({ dtsMs: 90_000, startsSegment: false, clock: true });
    assert.equal(s.finish(), 6000);
  });

  it('clocks durations by the clock track only (audio interleaved with video)', () => {
    const s = new Segmenter(limits(2000));
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
    const w = new LiveWindow(3);
    w.startBroadcast(3);
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
    assert.equal(p.targetDuration, 3, 'the target duration never changes');
  });

  it('continues a playlist left without EXT-X-ENDLIST (a crash): sequences, window, a larger target duration', () => {
    const before = new LiveWindow(3);
    before.startBroadcast(4);
    ['a/0.ts', 'a/1.ts', 'b/0.ts', 'b/1.ts'].forEach((uri, i) => before.add(seg(uri, 2, i === 2)));
    const state = parseLivePlaylist(before.render())!;
    assert.deepEqual(state, { targetDuration: 4, mediaSequence: 1, discontinuitySequence: 0, ended: false, segments: [seg('a/1.ts', 2), seg('b/0.ts', 2, true), seg('b/1.ts', 2)] });
    const after = new LiveWindow(3);
    after.resume(state);
    after.startBroadcast(3);
    after.add(seg('c/0.ts', 3, true));
    after.add(seg('c/1.ts', 3));
    const p = parseMediaPlaylist(after.render());
    assert.equal(p.mediaSequenceBase, 3);
    assert.equal(p.discontinuitySequenceBase, 1, 'b/0.ts left the window with its discontinuity');
    assert.equal(p.targetDuration, 4, 'a player reloading never sees the tag change');
    assert.deepEqual(p.segments.map((s) => [s.uri, s.discontinuity ?? false]), [['b/1.ts', false], ['c/0.ts', true], ['c/1.ts', false]]);
    assert.equal(parseLivePlaylist('<html>'), null);
    assert.equal(parseLivePlaylist('#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n'), null);
  });
});

describe('LiveWindow across broadcasts', () => {
  it('ends with EXT-X-ENDLIST, and the next broadcast starts a fresh window that continues the sequences behind a discontinuity', () => {
    const w = new LiveWindow(3);
    w.startBroadcast(6);
    ['a/0.ts', 'a/1.ts', 'a/2.ts', 'a/3.ts'].forEach((uri) => w.add({ ...seg(uri, 5.5), programDateTime: Date.parse('2026-12-06T10:00:00Z') }));
    w.end();
    let p = parseMediaPlaylist(w.render());
    assert.equal(p.endlist, true);
    assert.equal(p.mediaSequenceBase, 1);
    assert.equal(p.segments[0]!.programDateTime?.toISOString(), '2026-12-06T10:00:00.000Z');
    const state = parseLivePlaylist(w.render())!;
    assert.equal(state.ended, true);
    assert.equal(state.segments[0]!.programDateTime, Date.parse('2026-12-06T10:00:00Z'));

    // The stream comes back (in this process, or in another one that read the playlist back).
    const next = new LiveWindow(3);
    next.resume(state);
    assert.equal(next.continuesEarlierMedia, true);
    next.startBroadcast(2);
    next.add(seg('b/0.ts', 2, true));
    p = parseMediaPlaylist(next.render());
    assert.equal(p.endlist, false, 'live again: no EXT-X-ENDLIST');
    assert.equal(p.mediaSequenceBase, 4, 'the media sequence continues past the ended broadcast');
    assert.equal(p.targetDuration, 2, 'the new broadcast has its own target duration; the ended one no longer holds it up');
    assert.deepEqual(p.segments.map((s) => [s.uri, s.discontinuity ?? false]), [['b/0.ts', true]]);
  });
});

describe('target duration', () => {
  it('is the first segment rounded (the real GOP), at least the configured segment length; later segments must round to at most it', () => {
    assert.deepEqual([targetDurationFor(2, 2.002), targetDurationFor(2, 1.2), targetDurationFor(2, 4.4), targetDurationFor(2, 4.6), targetDurationFor(1, 0.2)], [2, 2, 4, 5, 1]);
    assert.equal(Math.round(maxSegmentMsFor(2) / 1000), 2);
    assert.equal(Math.round((maxSegmentMsFor(2) + 1) / 1000), 3);
  });
});

describe('recording playlist', () => {
  it('is an EVENT playlist while live and gets EXT-X-ENDLIST when the broadcast ends', () => {
    const segments = [seg('0.ts', 2), seg('1.ts', 4.2), seg('2.ts', 1.1)];
    const live = parseMediaPlaylist(renderRecordingPlaylist(segments, false, 6));
    assert.equal(live.playlistType, 'EVENT');
    assert.equal(live.endlist, false);
    assert.equal(live.targetDuration, 6);
    const ended = parseMediaPlaylist(renderRecordingPlaylist(segments, true, 6));
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
