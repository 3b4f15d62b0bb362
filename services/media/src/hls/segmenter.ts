/**
 * Where segments start and end: pure decisions over frame timestamps, no I/O.
 * A segment starts on a video keyframe (on any audio frame when the stream
 * has no video) and is cut at the first such frame at least `targetMs` after
 * its start, so a GOP longer than the target makes the segment follow the GOP.
 */

export interface SegmenterFrame {
  /** Unwrapped decode timestamp in ms. */
  dtsMs: number;
  /** Whether this frame can start a segment (a video keyframe, or any audio frame in an audio-only stream). */
  startsSegment: boolean;
  /** Whether this frame belongs to the track that clocks segment durations (video if any, else audio). */
  clock: boolean;
}

export type Placement =
  /** Before the first segment can start (e.g. inter frames before the first keyframe): do not mux. */
  | { action: 'skip' }
  /** The first segment starts with this frame. */
  | { action: 'start' }
  /** The open segment ends before this frame (lasting `durationMs`); a new one starts with it. */
  | { action: 'cut'; durationMs: number }
  | { action: 'append' };

export class Segmenter {
  private startDts: number | null = null;
  private lastClockDts: number | null = null;
  private lastClockStep = 0;
  private cutRequested = false;

  constructor(readonly targetMs: number) {}

  get isOpen(): boolean { return this.startDts !== null; }

  /** Makes the next segment-starting frame cut regardless of duration (codec configuration changed). */
  requestCut(): void {
    this.cutRequested = true;
  }

  place(frame: SegmenterFrame): Placement {
    if (this.startDts === null) {
      if (!frame.startsSegment) return { action: 'skip' };
      this.open(frame.dtsMs);
      return { action: 'start' };
    }
    if (frame.clock) {
      if (this.lastClockDts !== null && frame.dtsMs > this.lastClockDts) this.lastClockStep = frame.dtsMs - this.lastClockDts;
      this.lastClockDts = frame.dtsMs;
    }
    const elapsed = frame.dtsMs - this.startDts;
    if (frame.startsSegment && (elapsed >= this.targetMs || (this.cutRequested && elapsed > 0))) {
      this.open(frame.dtsMs);
      return { action: 'cut', durationMs: elapsed };
    }
    return { action: 'append' };
  }

  /** Closes the open segment at the end of the stream; its duration includes the last frame's own duration. */
  finish(): number | null {
    if (this.startDts === null) return null;
    const lastDts = this.lastClockDts ?? this.startDts;
    const duration = Math.max(0, lastDts - this.startDts) + this.lastClockStep;
    this.startDts = null;
    this.lastClockDts = null;
    return duration;
  }

  private open(dtsMs: number): void {
    this.startDts = dtsMs;
    this.lastClockDts = dtsMs;
    this.cutRequested = false;
  }
}
