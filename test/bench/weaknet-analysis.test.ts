/**
 * The pure parts of the weak-network benchmark (`npm run bench:weaknet`, a
 * separate script): reading a lossy MPEG-TS stream into timed whole/broken
 * video frames (the SRT reader), counting delivered and decodable frames
 * against what was sent, and the delay statistics (gaps, stalls, growth).
 * The TS comes from real ffmpeg; test/helpers/ts-demux.ts, the strict
 * demuxer, is the reference for frames and timestamps. And the summary of
 * repeated runs of one cell.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { analyzeFrames, countDelivery, summarizeRepeats, type DelayStats } from '../../bench/lib/frame-delay.js';
import { scheduledFrames, type VideoSchedule } from '../../bench/lib/paced-publisher.js';
import { TsFrameReader, type TsVideoFrame } from '../../bench/lib/ts-frames.js';
import { encodeFile } from '../helpers/ffmpeg.js';
import { demuxTs } from '../helpers/ts-demux.js';

async function sampleTs(): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'weaknet-ts-'));
  try {
    const file = path.join(dir, 'sample.ts');
    await encodeFile(file, 3, { bframes: 0, gopSeconds: 1 }, 'mpegts');
    return await readFile(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const packetAt = (ts: Buffer, i: number) => ts.subarray(i * 188, i * 188 + 188);
const pidOf = (p: Buffer) => ((p[1]! & 0x1f) << 8) | p[2]!;
const startsPes = (p: Buffer) => (p[1]! & 0x40) !== 0;

/** Feeds packet by packet (arrival time = packet index), leaving out `dropped`. */
function readPackets(ts: Buffer, dropped: ReadonlySet<number> = new Set()): { frames: TsVideoFrame[]; reader: TsFrameReader } {
  const frames: TsVideoFrame[] = [];
  const reader = new TsFrameReader((f) => frames.push(f));
  for (let i = 0; i < ts.length / 188; i++) if (!dropped.has(i)) reader.push(packetAt(ts, i), i);
  reader.finish();
  return { frames, reader };
}

test('TS reader: every video frame of an intact stream, whole, with its PTS in ms, timed by its last packet', async () => {
  const ts = await sampleTs();
  const reference = demuxTs(ts); // (it reports ffmpeg's SDT, which it reads as PES, as errors)
  const videoPid = reference.streams.find((s) => s.streamType === 0x1b)!.pid;
  const expected = reference.frames.filter((f) => f.pid === videoPid).map((f) => Math.round(f.pts / 90));
  // The whole stream in 1316-byte datagrams, as SRT hands it over.
  const frames: TsVideoFrame[] = [];
  const reader = new TsFrameReader((f) => frames.push(f));
  for (let offset = 0; offset < ts.length; offset += 1316) reader.push(ts.subarray(offset, offset + 1316), 0);
  reader.finish();
  assert.equal(frames.length, 90);
  assert.deepEqual(frames.map((f) => f.timestamp), expected);
  assert.ok(frames.every((f) => f.whole));
  assert.equal(reader.missingPackets, 0);
  assert.equal(reader.mediaBytes, reference.frames.reduce((sum, f) => sum + f.data.length, 0));

  const lastVideoPacket = new Map<number, number>(); // frame index -> last packet index
  let frame = -1;
  for (let i = 0; i < ts.length / 188; i++) {
    const p = packetAt(ts, i);
    if (pidOf(p) !== videoPid) continue;
    if (startsPes(p)) frame++;
    lastVideoPacket.set(frame, i);
  }
  assert.deepEqual(readPackets(ts).frames.map((f) => f.arrivedAt), [...lastVideoPacket.values()]);
});

test('TS reader: a lost packet inside a frame breaks that frame only; a lost frame start loses the frame and counts against the one before', async () => {
  const ts = await sampleTs();
  const videoPid = demuxTs(ts).streams.find((s) => s.streamType === 0x1b)!.pid;
  const videoPackets: { index: number; frame: number; start: boolean }[] = [];
  let frame = -1;
  for (let i = 0; i < ts.length / 188; i++) {
    const p = packetAt(ts, i);
    if (pidOf(p) !== videoPid) continue;
    if (startsPes(p)) frame++;
    videoPackets.push({ index: i, frame, start: startsPes(p) });
  }
  // The second keyframe (frame 30) spans many packets: drop one from its middle.
  const keyframePackets = videoPackets.filter((v) => v.frame === 30);
  assert.ok(keyframePackets.length > 10);
  const middle = readPackets(ts, new Set([keyframePackets[5]!.index]));
  assert.equal(middle.frames.length, 90);
  assert.deepEqual(middle.frames.filter((f) => !f.whole).map((f) => middle.frames.indexOf(f)), [30]);
  assert.equal(middle.reader.missingPackets, 1);

  // Drop the packet that starts frame 45: frame 45 never shows up, frame 44 is not trusted.
  const start45 = videoPackets.find((v) => v.frame === 45 && v.start)!;
  const lostStart = readPackets(ts, new Set([start45.index]));
  assert.equal(lostStart.frames.length, 89);
  const timestamps = readPackets(ts).frames.map((f) => f.timestamp);
  assert.ok(!lostStart.frames.some((f) => f.timestamp === timestamps[45]));
  assert.deepEqual(lostStart.frames.filter((f) => !f.whole).map((f) => f.timestamp), [timestamps[44]]);
});

test('delivered and decodable: a lost keyframe takes its GOP with it, a lost inter frame only itself', () => {
  // Two GOPs of four frames, 100 ms apart.
  const sent = [0, 100, 200, 300, 400, 500, 600, 700].map((timestamp) => ({ timestamp, key: timestamp % 400 === 0 }));
  const all = new Set(sent.map((f) => f.timestamp));
  assert.deepEqual(countDelivery(sent, all), { sent: 8, delivered: 8, decodable: 8 });
  const withoutInter = new Set([...all].filter((t) => t !== 100));
  assert.deepEqual(countDelivery(sent, withoutInter), { sent: 8, delivered: 7, decodable: 7 });
  const withoutSecondKey = new Set([...all].filter((t) => t !== 400));
  assert.deepEqual(countDelivery(sent, withoutSecondKey), { sent: 8, delivered: 7, decodable: 4 });
  // The window opens mid-GOP: its frames depend on the keyframe sent before it.
  const midGop = sent.slice(2);
  assert.deepEqual(countDelivery(midGop, all, 0), { sent: 6, delivered: 6, decodable: 6 });
  assert.deepEqual(countDelivery(midGop, withoutInter, -400), { sent: 6, delivered: 6, decodable: 4 });
});

test('the looped sample schedule: timestamps continue across the seam, keyframes where the sample has them', () => {
  const schedule: VideoSchedule = { loopMs: 400, frames: [0, 100, 200, 300].map((timestamp) => ({ timestamp, key: timestamp === 0 })) };
  assert.deepEqual(scheduledFrames(schedule, 250, 950), [
    { timestamp: 300, key: false }, { timestamp: 400, key: true }, { timestamp: 500, key: false }, { timestamp: 600, key: false },
    { timestamp: 700, key: false }, { timestamp: 800, key: true }, { timestamp: 900, key: false },
  ]);
  const thirds: VideoSchedule = { loopMs: 100, frames: [{ timestamp: 0, key: true }, { timestamp: 33.3, key: false }, { timestamp: 66.7, key: false }] };
  assert.deepEqual(scheduledFrames(thirds, 100, 200).map((f) => f.timestamp), [100, 133, 167]);
});

test('delay statistics: the longest gap, stalls, and the p99 of the first vs the last 10 s', () => {
  const startedAt = 1_000_000;
  const windowStart = startedAt;
  const windowEnd = startedAt + 30_000;
  // 30 fps for 30 s; the delay grows from 100 ms to 400 ms; nothing arrives from 12 s to 13.2 s.
  const frames: [number, number][] = [];
  for (let t = 0; t < 30_000; t += 1000 / 30) {
    const arrivedAt = startedAt + t + 100 + (t / 30_000) * 300;
    if (arrivedAt >= startedAt + 12_000 && arrivedAt < startedAt + 13_200) continue;
    frames.push([Math.round(t), arrivedAt]);
  }
  const stats = analyzeFrames(frames, startedAt, 0, windowStart, windowEnd);
  assert.equal(stats.stalls, 1);
  assert.ok(stats.maxGapMs >= 1200 && stats.maxGapMs < 1250, `max gap ${stats.maxGapMs}`);
  assert.ok(stats.p99First < 210, `first ${stats.p99First}`);
  assert.ok(stats.p99Last > 390, `last ${stats.p99Last}`);
  assert.equal(stats.p99Windows.length, 3, 'one p99 per 10 s');
  assert.equal(stats.p99Windows[0], stats.p99First);
  assert.equal(stats.p99Windows[2], stats.p99Last);
  assert.ok(stats.p99Windows[0]! < stats.p99Windows[1]! && stats.p99Windows[1]! < stats.p99Windows[2]!, `growing: ${stats.p99Windows.join(', ')}`);
  assert.ok(Math.abs(stats.trendMs - 100) < 2, `300 ms over 30 s is 100 ms per 10 s: trend ${stats.trendMs}`);
  // Bounded: a 2 s sawtooth between 300 and 600 ms whose peaks wander by up to 100 ms. The p99 of
  // the last 10 s can sit above the first's; the trend over every frame stays near zero.
  const sawtooth: [number, number][] = [];
  for (let t = 0; t < 30_000; t += 1000 / 30) {
    const gop = Math.floor(t / 2000);
    const peak = 600 + ((gop * 37) % 5) * 25; // 600, 625, ... 700, in a scrambled order
    sawtooth.push([Math.round(t), startedAt + t + 300 + ((t % 2000) / 2000) * (peak - 300)]);
  }
  const bounded = analyzeFrames(sawtooth, startedAt, 0, windowStart, windowEnd);
  assert.ok(Math.abs(bounded.trendMs) < 10, `bounded: trend ${bounded.trendMs}, p99 per 10 s ${bounded.p99Windows.join(', ')}`);
  // Nothing at all: the whole window is one gap.
  const empty = analyzeFrames([], startedAt, 0, windowStart, windowEnd);
  assert.equal(empty.maxGapMs, 30_000);
  assert.ok(Number.isNaN(empty.p99Last));
});

test('repeated runs: median and range of the p99, each window averaged over the runs, the worst run\'s delivery', () => {
  const run = (p99: number, windows: number[], trendMs: number, decodable: number, stalls: number, maxGapMs: number, overhead: number) => ({
    stats: { frames: 1800, p99, p99Windows: windows, trendMs, stalls, maxGapMs } as DelayStats,
    delivery: { sent: 1800, delivered: 1700, decodable },
    overhead,
  });
  // Three runs whose last window sits above the first in one of them: the means do not.
  const summary = summarizeRepeats([
    run(650, [640, 660, 700], 2, 1300, 0, 250, 1.3),
    run(610, [700, 600, 610], -5, 1250, 1, 600, 1.1),
    run(700, [690, 650, 640], 1, 1350, 0, 300, 1.2),
  ]);
  assert.equal(summary.runs, 3);
  assert.equal(summary.p99Median, 650);
  assert.deepEqual([summary.p99Min, summary.p99Max], [610, 700]);
  assert.deepEqual(summary.p99WindowMeans.map(Math.round), [677, 637, 650]);
  assert.equal(summary.trendMedian, 1);
  assert.equal(summary.worstDelivery.decodable, 1250);
  assert.equal(summary.stalls, 1);
  assert.equal(summary.maxGapMs, 600);
  assert.equal(summary.overheadMedian, 1.2);
  // An even count's median is the mean of the middle two; a run with fewer windows limits them all.
  const two = summarizeRepeats([run(600, [600, 610], 0, 1300, 0, 200, 1.3), run(640, [620], 0, 1300, 0, 200, 1.3)]);
  assert.equal(two.p99Median, 620);
  assert.deepEqual(two.p99WindowMeans, [610]);
  assert.throws(() => summarizeRepeats([]), /no runs/);
});

test('repeated runs: a run that got no frame is counted as failed and left out of the delay figures, not of delivery or stalls', () => {
  const run = (frames: number, p99: number, windows: number[], decodable: number, stalls: number, maxGapMs: number) => ({
    stats: { frames, p99, p99Windows: windows, trendMs: frames ? 1 : Number.NaN, stalls, maxGapMs } as DelayStats,
    delivery: { sent: 1800, delivered: decodable, decodable },
    overhead: frames ? 1.3 : Number.NaN,
  });
  // A failed run (the edge answered 404: no frame at all) analyses to NaN delays, one stall the window long.
  const failed = run(0, Number.NaN, [Number.NaN, Number.NaN], 0, 1, 60_000);
  for (const order of [[0, 1, 2], [1, 0, 2], [2, 1, 0]]) {
    const runs = [run(1800, 200, [190, 200], 1800, 0, 120), failed, run(1800, 240, [230, 250], 1800, 0, 150)];
    const summary = summarizeRepeats(order.map((i) => runs[i]!));
    assert.equal(summary.runs, 3);
    assert.equal(summary.failedRuns, 1);
    assert.equal(summary.p99Median, 220, `order ${order}`);
    assert.deepEqual([summary.p99Min, summary.p99Max], [200, 240]);
    assert.deepEqual(summary.p99WindowMeans, [210, 225]);
    assert.equal(summary.trendMedian, 1);
    assert.equal(summary.overheadMedian, 1.3);
    assert.equal(summary.worstDelivery.decodable, 0);
    assert.equal(summary.stalls, 1);
    assert.equal(summary.maxGapMs, 60_000);
  }
  const allFailed = summarizeRepeats([failed, failed]);
  assert.equal(allFailed.failedRuns, 2);
  assert.ok(Number.isNaN(allFailed.p99Median));
  assert.deepEqual(allFailed.p99WindowMeans, []);
});
