/**
 * HLS media playlists (RFC 8216): the live sliding window and the recording
 * playlist that grows for a whole broadcast. Pure rendering and window
 * bookkeeping; writing them is hls-writer's job.
 */

export interface PlaylistSegment {
  uri: string;
  durationSec: number;
  /** A publisher reconnected (or a segment was lost) before this segment: timestamps and codec state restart. */
  discontinuity: boolean;
}

const VERSION = 3; // decimal EXTINF durations

function header(targetDuration: number, mediaSequence: number): string[] {
  return ['#EXTM3U', `#EXT-X-VERSION:${VERSION}`, `#EXT-X-TARGETDURATION:${targetDuration}`, `#EXT-X-MEDIA-SEQUENCE:${mediaSequence}`];
}

function segmentLines(segments: readonly PlaylistSegment[]): string[] {
  return segments.flatMap((s) => [
    ...(s.discontinuity ? ['#EXT-X-DISCONTINUITY'] : []),
    `#EXTINF:${s.durationSec.toFixed(3)},`,
    s.uri,
  ]);
}

/** EXT-X-TARGETDURATION: every EXTINF rounded to the nearest integer must not exceed it. */
export function targetDurationFor(segments: readonly PlaylistSegment[], atLeast = 1): number {
  return segments.reduce((max, s) => Math.max(max, Math.ceil(s.durationSec)), Math.ceil(atLeast));
}

/**
 * The live window of one stream id. It survives publisher reconnects (a new
 * broadcast continues the same media sequence behind an EXT-X-DISCONTINUITY),
 * and its target duration never shrinks, as RFC 8216 6.2.1 requires.
 */
export class LiveWindow {
  private readonly window: PlaylistSegment[] = [];
  private mediaSequence = 0;
  private discontinuitySequence = 0;
  private targetDuration: number;

  constructor(readonly windowSegments: number, minTargetSec: number) {
    this.targetDuration = Math.ceil(minTargetSec);
  }

  get segments(): readonly PlaylistSegment[] { return this.window; }

  add(segment: PlaylistSegment): void {
    this.window.push(segment);
    this.targetDuration = Math.max(this.targetDuration, Math.ceil(segment.durationSec));
    while (this.window.length > this.windowSegments) {
      const removed = this.window.shift()!;
      this.mediaSequence++;
      if (removed.discontinuity) this.discontinuitySequence++;
    }
  }

  render(): string {
    return [
      ...header(this.targetDuration, this.mediaSequence),
      `#EXT-X-DISCONTINUITY-SEQUENCE:${this.discontinuitySequence}`,
      ...segmentLines(this.window),
      '',
    ].join('\n');
  }
}

/** The recording playlist: every segment of a broadcast; EVENT while live, ENDLIST once it ended. */
export function renderRecordingPlaylist(segments: readonly PlaylistSegment[], ended: boolean, minTargetSec: number): string {
  return [
    ...header(targetDurationFor(segments, minTargetSec), 0),
    '#EXT-X-PLAYLIST-TYPE:EVENT',
    ...segmentLines(segments),
    ...(ended ? ['#EXT-X-ENDLIST'] : []),
    '',
  ].join('\n');
}
