/**
 * Pure analysis of one weak-network cell: per-frame extra delay, stalls, gaps
 * and growth from the frames a reader recorded and the publisher's start
 * time; and how many of the frames sent arrived whole and decodable.
 */
import { median, percentile, slope } from './stats.js';

export const STALL_MS = 500;
/** Length of the first and last stretch of the window whose p99s tell whether delay grows. */
export const GROWTH_WINDOW_MS = 10_000;
/**
 * The weak-network benchmark's sample loops once per growth window, so every
 * window holds the same media. The clip's first 4 s carry ~8 % more bits
 * (the encoder's start): with the 20 s sample, 10 s windows alternated
 * between heavier and lighter media (mean p99 over six 2 Mbit/s cells, per
 * window: 596, 653, 573, 633, 601, 656 ms) and "the last 10 s against the
 * first" compared a heavy window with a light one.
 */
export const WEAKNET_SAMPLE_SECONDS = GROWTH_WINDOW_MS / 1000;

export interface DelayStats {
  frames: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Arrival gaps longer than STALL_MS (window edges included). */
  stalls: number;
  stallMs: number;
  /** Longest time between two arrivals (window edges included). */
  maxGapMs: number;
  /** p99 of the frames arriving in the window's first and last GROWTH_WINDOW_MS. */
  p99First: number;
  p99Last: number;
  /** p99 of each consecutive GROWTH_WINDOW_MS of the window, in order: bounded or growing, at a glance. */
  p99Windows: number[];
  /**
   * Least-squares slope of every frame's extra delay against its arrival,
   * ms per GROWTH_WINDOW_MS: growth read from all of the window's frames,
   * where a window's p99 rests on its two or three latest (one 10 s p99
   * of a bounded 2 Mbit/s cell varies by ±8 % from run to run).
   */
  trendMs: number;
}

/** How late a frame sent at startedAt + timestamp and arriving at arrivedAt is, beyond the clean link's `baselineMs`. */
export function extraDelayMs(timestamp: number, arrivedAt: number, startedAt: number, baselineMs: number): number {
  return arrivedAt - (startedAt + timestamp) - baselineMs;
}

/**
 * `frames` are [timestamp, arrivedAt] of video frames; a frame sent at
 * startedAt + timestamp arriving at arrivedAt was delayed by the difference,
 * of which `baselineMs` (the clean link's) is not the network's doing.
 * Only frames arriving inside [windowStart, windowEnd] count.
 */
export function analyzeFrames(frames: readonly (readonly [number, number])[], startedAt: number, baselineMs: number, windowStart: number, windowEnd: number): DelayStats {
  const inWindow = frames.filter(([, arrivedAt]) => arrivedAt >= windowStart && arrivedAt <= windowEnd);
  const delays = inWindow.map(([timestamp, arrivedAt]) => extraDelayMs(timestamp, arrivedAt, startedAt, baselineMs));
  let stalls = 0;
  let stallMs = 0;
  let maxGapMs = 0;
  let previous = windowStart;
  for (const arrivedAt of [...inWindow.map(([, a]) => a).sort((a, b) => a - b), windowEnd]) {
    const gap = arrivedAt - previous;
    maxGapMs = Math.max(maxGapMs, gap);
    if (gap > STALL_MS) {
      stalls++;
      stallMs += gap;
    }
    previous = arrivedAt;
  }
  const delaysArriving = (from: number, to: number) => inWindow.flatMap(([, arrivedAt], i) => (arrivedAt >= from && arrivedAt <= to ? [delays[i]!] : []));
  return {
    frames: inWindow.length,
    p50: percentile(delays, 50),
    p95: percentile(delays, 95),
    p99: percentile(delays, 99),
    max: delays.length ? Math.max(...delays) : Number.NaN,
    stalls,
    stallMs,
    maxGapMs,
    p99First: percentile(delaysArriving(windowStart, windowStart + GROWTH_WINDOW_MS), 99),
    p99Last: percentile(delaysArriving(windowEnd - GROWTH_WINDOW_MS, windowEnd), 99),
    p99Windows: Array.from({ length: Math.floor((windowEnd - windowStart) / GROWTH_WINDOW_MS) }, (_, i) =>
      percentile(delaysArriving(windowStart + i * GROWTH_WINDOW_MS, windowStart + (i + 1) * GROWTH_WINDOW_MS), 99)),
    trendMs: slope(inWindow.map(([, arrivedAt], i) => ({ x: arrivedAt, y: delays[i]! }))) * GROWTH_WINDOW_MS,
  };
}

export interface Delivery {
  sent: number;
  /** Sent frames that arrived whole. */
  delivered: number;
  /** Delivered frames whose GOP's keyframe arrived whole too. */
  decodable: number;
}

/**
 * `sent` are the video frames sent (in timestamp order, keyframes marked),
 * `wholeTimestamps` the timestamps of the frames that arrived whole. A frame
 * is decodable when it arrived whole and so did the keyframe that opened its
 * GOP; a frame before the first keyframe of `sent` is judged by that
 * keyframe only if it is in `keyframeBefore` (the schedule's previous one).
 * Frames lost inside a GOP do not break the frames after them here: the
 * issue's definition, kinder to every transport alike than a decoder is.
 */
export function countDelivery(sent: readonly { timestamp: number; key: boolean }[], wholeTimestamps: ReadonlySet<number>, keyframeBefore?: number): Delivery {
  let delivered = 0;
  let decodable = 0;
  let gopOpen = keyframeBefore !== undefined && wholeTimestamps.has(keyframeBefore);
  for (const frame of sent) {
    const whole = wholeTimestamps.has(frame.timestamp);
    if (frame.key) gopOpen = whole;
    if (!whole) continue;
    delivered++;
    if (gopOpen) decodable++;
  }
  return { sent: sent.length, delivered, decodable };
}

/** The raw delay the clean link adds (publisher pacing, server hops): the median. */
export function baselineDelay(frames: readonly (readonly [number, number])[], startedAt: number): number {
  return percentile(frames.map(([timestamp, arrivedAt]) => arrivedAt - (startedAt + timestamp)), 50);
}

/**
 * One transport on one link over repeated runs. A 60 s cell's p99 rests on
 * its six or so latest frames and a 10 s window's on two or three, so from
 * run to run they vary more than some differences worth telling apart (on
 * this machine, one transport's 5 % loss p99 spanned 194-216 ms in a day):
 * the median of the runs' p99s and each window's mean over the runs are the
 * figures to compare; the range shows the spread. A run that got no frame at
 * all (the reader found no stream) has no delays: it is counted in
 * `failedRuns` and left out of the delay figures, but its delivery (none) and
 * its stall (the whole window) count.
 */
export interface RepeatSummary {
  runs: number;
  /** Runs that got no frame in their window. */
  failedRuns: number;
  /** The delay figures below are over the other runs; NaN (and no windows) when every run failed. */
  p99Median: number;
  p99Min: number;
  p99Max: number;
  /** Each GROWTH_WINDOW_MS window's p99, averaged over the runs. */
  p99WindowMeans: number[];
  trendMedian: number;
  /** The worst run's delivered and decodable frames, of what it sent. */
  worstDelivery: Delivery;
  stalls: number;
  maxGapMs: number;
  overheadMedian: number;
}

export function summarizeRepeats(runs: readonly { stats: DelayStats; delivery: Delivery; overhead: number }[]): RepeatSummary {
  if (runs.length === 0) throw new Error('summarizeRepeats: no runs');
  const measured = runs.filter((r) => r.stats.frames > 0);
  const p99s = measured.map((r) => r.stats.p99);
  const windows = measured.length ? Math.min(...measured.map((r) => r.stats.p99Windows.length)) : 0;
  const worst = runs.reduce((a, b) => (b.delivery.decodable / b.delivery.sent < a.delivery.decodable / a.delivery.sent ? b : a));
  return {
    runs: runs.length,
    failedRuns: runs.length - measured.length,
    p99Median: median(p99s),
    p99Min: measured.length ? Math.min(...p99s) : Number.NaN,
    p99Max: measured.length ? Math.max(...p99s) : Number.NaN,
    p99WindowMeans: Array.from({ length: windows }, (_, i) => measured.reduce((sum, r) => sum + r.stats.p99Windows[i]!, 0) / measured.length),
    trendMedian: median(measured.map((r) => r.stats.trendMs)),
    worstDelivery: worst.delivery,
    stalls: runs.reduce((sum, r) => sum + r.stats.stalls, 0),
    maxGapMs: Math.max(...runs.map((r) => r.stats.maxGapMs)),
    overheadMedian: median(measured.map((r) => r.overhead)),
  };
}
