/**
 * The measuring sticks of the benchmarks. For `npm run bench:hls`: ffmpeg
 * (drawtext + drawbox, Debian's build with fonts-dejavu-core) burns the wall
 * clock into a test picture, H.264 encodes it, and the reader the
 * watch-page benchmark runs in Chromium decodes it back from the decoded
 * pixels: every frame must read, within the time ffmpeg was running, in
 * order, spanning the signal's duration. For the load and fan-out tables: figures a small run
 * cannot resolve are marked.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { clockStampFilter, STAMP_FONT, stampAgeMs, stampFromLuma } from '../../bench/lib/clock-stamp.js';
import { perViewerFigure } from '../../bench/lib/stats.js';
import { lavfiEncodeArgs, runFfmpeg } from '../helpers/ffmpeg.js';

test('the clock burned into the picture reads back after H.264', { skip: existsSync(STAMP_FONT) ? false : `${STAMP_FONT} missing (apt-get install fonts-dejavu-core)` }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-stamp-'));
  try {
    const video = path.join(dir, 'stamped.mp4');
    const started = Date.now();
    await runFfmpeg(['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-re',
      ...lavfiEncodeArgs(2, { width: 640, height: 360, bframes: 0, audio: false, videoFilter: clockStampFilter() }), video]);
    const ended = Date.now();
    const raw = path.join(dir, 'stripe.gray');
    const [width, height] = [400, 20];
    await runFfmpeg(['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', video, '-vf', `crop=${width}:${height}:0:0`, '-pix_fmt', 'gray', '-f', 'rawvideo', raw]);
    const pixels = await readFile(raw);
    const frames = pixels.length / (width * height);
    assert.equal(frames, 60);
    const stamps: number[] = [];
    for (let f = 0; f < frames; f++) {
      const stamp = stampFromLuma((x, y) => pixels[f * width * height + y * width + x]!);
      assert.notEqual(stamp, null, `frame ${f} reads`);
      const age = stampAgeMs(stamp!, ended);
      assert.ok(age <= ended - started, `frame ${f}: stamped ${age} ms before the end of a ${ended - started} ms run`);
      stamps.push(stamp!);
    }
    // ffmpeg reads a frame no earlier than its time (-re) but may read late and catch up on a loaded machine:
    // stamps never go back, and the whole run spans at least the signal's duration.
    for (let f = 1; f < frames; f++) {
      const step = stampAgeMs(stamps[f - 1]!, stamps[f]!); // how far frame f-1 is before frame f
      assert.ok(step <= 1000, `frames ${f - 1}→${f} stamped ${step} ms apart`);
    }
    const span = stampAgeMs(stamps[0]!, stamps.at(-1)!);
    assert.ok(span >= 59 * 1000 / 30 - 100 && span <= ended - started, `60 frames span ${span} ms of wall clock in a ${ended - started} ms run`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('benchmark tables mark the per-viewer figures a small run cannot resolve', () => {
  assert.equal(perViewerFigure(0.0157, 4, true), '0.0157');
  assert.equal(perViewerFigure(0.08, 3, false), '0.080 (small run)');
  assert.equal(perViewerFigure(-0.002, 3, true), 'n/a (below noise: -0.002)');
  assert.equal(perViewerFigure(Number.NaN, 4, false), 'n/a (too few points)');
});
