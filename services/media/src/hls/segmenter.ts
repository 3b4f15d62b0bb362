/**
 * Where segments start and end: pure decisions over frame timestamps, no I/O.
 * A segment starts on a video keyframe (on any audio frame when the stream
 * has no video) and is cut at the first such frame at least `targetMs` after
 * its start, so a GOP longer than the target makes the segment follow the GOP,
 * up to a cap: a segment that reaches `maxMs` or `maxBytes` is cut at the
 * next frame of any kind. Without it a publisher that stops sending
 * keyframes (or sends only audio on a video stream) grows one segment in
 * memory without end. Cutting keeps everything: played in order, the next
 * segment decodes from the references of the previous one, so a recording
 * stays seamless; only a player that joins at such a segment shows
 * artefacts until the next keyframe. The cap also bounds every duration,
 * which is what lets the playlists fix EXT-X-TARGETDURATION: once the first
 * segment has shown the publisher's GOP, the writer lowers the cap to what
 * that target duration admits (setMaxMs).
 */

export interface SegmenterFrame {
  /** Unwrapped decode timestamp in ms. */
  dtsMs: number;
  /** Whether this frame can start a segment (a video keyframe, or any audio frame in an audio-only stream). */
  startsSegment: boolean;
  /** Whether this frame belongs to the track that clocks segment durations (video if any, else audio). */
  clock: boolean;
  /** Bytes already muxed into the open segment (0 if not given: no byte cap). */
  segmentBytes?: number;
}

export interface SegmenterLimits {
  targetMs: number;
  /** No segment lasts longer (reported durations are clamped to it, e.g. across a timestamp jump). */
  maxMs: number;
  /** A segment holding this many bytes is cut at the next frame. */
  maxBytes: number;
}

export type Placement =
  /** Before the first segment can start (e.g. inter frames before the first keyframe): do not mux. */
  | { action: 'skip' }
  /** The first segment starts with this frame. */
  | { action: 'start' }
  /**
   * The open segment ends before this frame (lasting `durationMs`); a new one
   * starts with it. `forced` says which cap cut it where no segment could start.
   */
  | { action: 'cut'; durationMs: number; forced?: 'duration' | 'bytes' }
  | { action: 'append' };

export class Segmenter {
  private startDts: number | null = null;
  private lastClockDts: number | null = null;
  private lastClockStep = 0;
  private cutRequested = false;
  private maxMs: number;

  constructor(readonly limits: SegmenterLimits) {
    this.maxMs = limits.maxMs;
  }

  /** Segments from now on last at most `maxMs` (the broadcast's target duration is fixed). */
  setMaxMs(maxMs: number): void {
    this.maxMs = maxMs;
  }

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
    if (frame.startsSegment && (elapsed >= this.limits.targetMs || (this.cutRequested && elapsed > 0))) {
      this.open(frame.dtsMs);
      return { action: 'cut', durationMs: this.clamp(elapsed) };
    }
    const forced = elapsed >= this.maxMs ? 'duration' : (frame.segmentBytes ?? 0) >= this.limits.maxBytes ? 'bytes' : null;
    if (forced) {
      this.open(frame.dtsMs);
      return { action: 'cut', durationMs: this.clamp(elapsed), forced };
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
    return this.clamp(duration);
  }

  private clamp(durationMs: number): number {
    return Math.min(durationMs, this.maxMs);
  }

  private open(dtsMs: number): void {
    this.startDts = dtsMs;
    this.lastClockDts = dtsMs;
    this.cutRequested = false;
  }
}
