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

/**
 * EXT-X-TARGETDURATION for segments no longer than `maxSegmentSec`: every
 * EXTINF rounded to the nearest integer must not exceed it, and RFC 8216
 * 6.2.1 forbids changing it, so it is fixed up front from the segment cap
 * rather than from the segments seen so far.
 */
export function targetDurationFor(maxSegmentSec: number): number {
  return Math.max(1, Math.ceil(maxSegmentSec));
}

/** What a live playlist written earlier (by another process or task) says, to continue it. */
export interface LiveWindowState {
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  segments: PlaylistSegment[];
}

/**
 * The live window of one stream id. It survives publisher reconnects, also
 * across processes (resume()): a new broadcast continues the same media
 * sequence behind an EXT-X-DISCONTINUITY, and the target duration is fixed.
 */
export class LiveWindow {
  private window: PlaylistSegment[] = [];
  private mediaSequence = 0;
  private discontinuitySequence = 0;

  constructor(readonly windowSegments: number, private targetDuration: number) {}

  get segments(): readonly PlaylistSegment[] { return this.window; }

  /**
   * Continues a playlist written before this process took the stream over.
   * Its target duration is kept if larger: a player reloading must never see
   * the tag change.
   */
  resume(state: LiveWindowState): void {
    this.window = state.segments.slice();
    this.mediaSequence = state.mediaSequence;
    this.discontinuitySequence = state.discontinuitySequence;
    this.targetDuration = Math.max(this.targetDuration, state.targetDuration);
    this.slide();
  }

  add(segment: PlaylistSegment): void {
    this.window.push(segment);
    this.slide();
  }

  render(): string {
    return [
      ...header(this.targetDuration, this.mediaSequence),
      `#EXT-X-DISCONTINUITY-SEQUENCE:${this.discontinuitySequence}`,
      ...segmentLines(this.window),
      '',
    ].join('\n');
  }

  private slide(): void {
    while (this.window.length > this.windowSegments) {
      const removed = this.window.shift()!;
      this.mediaSequence++;
      if (removed.discontinuity) this.discontinuitySequence++;
    }
  }
}

/**
 * Reads back a live playlist as render() writes it; null when the text is not
 * one (then the stream starts afresh). Only the tags render() writes matter.
 */
export function parseLivePlaylist(text: string): LiveWindowState | null {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') return null;
  const state: LiveWindowState = { targetDuration: 0, mediaSequence: 0, discontinuitySequence: 0, segments: [] };
  let duration: number | null = null;
  let discontinuity = false;
  const intTag = (line: string) => Number.parseInt(line.slice(line.indexOf(':') + 1), 10);
  for (const line of lines) {
    if (line.startsWith('#EXT-X-TARGETDURATION:')) state.targetDuration = intTag(line);
    else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) state.mediaSequence = intTag(line);
    else if (line.startsWith('#EXT-X-DISCONTINUITY-SEQUENCE:')) state.discontinuitySequence = intTag(line);
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true;
    else if (line.startsWith('#EXTINF:')) duration = Number.parseFloat(line.slice(8));
    else if (line !== '' && !line.startsWith('#') && duration !== null) {
      state.segments.push({ uri: line, durationSec: duration, discontinuity });
      duration = null;
      discontinuity = false;
    }
  }
  const valid = [state.targetDuration, state.mediaSequence, state.discontinuitySequence].every((n) => Number.isSafeInteger(n) && n >= 0)
    && state.segments.every((seg) => Number.isFinite(seg.durationSec));
  return valid ? state : null;
}

/** The recording playlist: every segment of a broadcast; EVENT while live, ENDLIST once it ended. */
export function renderRecordingPlaylist(segments: readonly PlaylistSegment[], ended: boolean, targetDuration: number): string {
  return [
    ...header(targetDuration, 0),
    '#EXT-X-PLAYLIST-TYPE:EVENT',
    ...segmentLines(segments),
    ...(ended ? ['#EXT-X-ENDLIST'] : []),
    '',
  ].join('\n');
}
