/**
 * Pure analysis of one weak-network cell: per-frame extra delay and stalls,
 * from the frames a reader recorded and the publisher's start time.
 */
import { percentile } from './stats.js';

export const STALL_MS = 500;

export interface DelayStats {
  frames: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Arrival gaps longer than STALL_MS (window edges included). */
  stalls: number;
  stallMs: number;
}

/**
 * `frames` are [timestamp, arrivedAt] of video frames; a frame sent at
 * startedAt + timestamp arriving at arrivedAt was delayed by the difference,
 * of which `baselineMs` (the clean link's) is not the network's doing.
 * Only frames arriving inside [windowStart, windowEnd] count.
 */
export function analyzeFrames(frames: readonly (readonly [number, number])[], startedAt: number, baselineMs: number, windowStart: number, windowEnd: number): DelayStats {
  const inWindow = frames.filter(([, arrivedAt]) => arrivedAt >= windowStart && arrivedAt <= windowEnd);
  const delays = inWindow.map(([timestamp, arrivedAt]) => arrivedAt - (startedAt + timestamp) - baselineMs);
  let stalls = 0;
  let stallMs = 0;
  let previous = windowStart;
  for (const arrivedAt of [...inWindow.map(([, a]) => a), windowEnd]) {
    const gap = arrivedAt - previous;
    if (gap > STALL_MS) {
      stalls++;
      stallMs += gap;
    }
    previous = arrivedAt;
  }
  return {
    frames: inWindow.length,
    p50: percentile(delays, 50),
    p95: percentile(delays, 95),
    p99: percentile(delays, 99),
    max: delays.length ? Math.max(...delays) : Number.NaN,
    stalls,
    stallMs,
  };
}

/** The raw delay the clean link adds (publisher pacing, server hops): the median. */
export function baselineDelay(frames: readonly (readonly [number, number])[], startedAt: number): number {
  return percentile(frames.map(([timestamp, arrivedAt]) => arrivedAt - (startedAt + timestamp)), 50);
}
