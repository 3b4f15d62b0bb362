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
  /**
   * Wall-clock time (epoch ms) of the segment's first frame, as it reached
   * the server: EXT-X-PROGRAM-DATE-TIME, which lets players (hls.js
   * `playingDate`) and tests tell how far behind real time playback is.
   */
  programDateTime?: number;
}

const VERSION = 3; // decimal EXTINF durations

function header(targetDuration: number, mediaSequence: number): string[] {
  return ['#EXTM3U', `#EXT-X-VERSION:${VERSION}`, `#EXT-X-TARGETDURATION:${targetDuration}`, `#EXT-X-MEDIA-SEQUENCE:${mediaSequence}`];
}

function segmentLines(segments: readonly PlaylistSegment[]): string[] {
  return segments.flatMap((s) => [
    ...(s.discontinuity ? ['#EXT-X-DISCONTINUITY'] : []),
    ...(s.programDateTime !== undefined ? [`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.programDateTime).toISOString()}`] : []),
    `#EXTINF:${s.durationSec.toFixed(3)},`,
    s.uri,
  ]);
}

/**
 * EXT-X-TARGETDURATION of a broadcast, fixed when its first segment is cut
 * (RFC 8216 4.3.3.1: every EXTINF rounded to the nearest integer is at most
 * it; 6.2.1: it never changes). It is the first segment's rounded duration,
 * i.e. the publisher's real GOP, and at least the configured segment length:
 * a 2 s GOP with 2 s segments gives 2, not a worst-case cap, so players that
 * hold back three target durations from the live edge stay close to it.
 */
export function targetDurationFor(segmentSeconds: number, firstSegmentSec: number): number {
  return Math.max(1, Math.round(segmentSeconds), Math.round(firstSegmentSec));
}

/**
 * The longest segment a target duration admits, in ms: anything shorter
 * than target + 0.5 s rounds to at most the target. Later segments of the
 * broadcast are cut there, keyframe or not (see Segmenter).
 */
export function maxSegmentMsFor(targetDuration: number): number {
  return targetDuration * 1000 + 499;
}

/** What a live playlist written earlier (by another process or task) says, to continue it. */
export interface LiveWindowState {
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  segments: PlaylistSegment[];
  /** EXT-X-ENDLIST: the broadcast it shows has ended. */
  ended: boolean;
}

/**
 * The live window of one stream id. It survives broadcasts, also across
 * processes (resume()). When a broadcast ends the playlist gets
 * EXT-X-ENDLIST (players stop waiting for segments and say it ended); the
 * next broadcast starts a fresh window that continues the media sequence
 * (the ended broadcast's segments leave it, counted as if they slid out),
 * its first segment behind an EXT-X-DISCONTINUITY, with the new broadcast's
 * own target duration: after EXT-X-ENDLIST a player reloads from scratch.
 * A playlist left without EXT-X-ENDLIST (a crashed process, a publisher
 * that moved to another task while players keep polling) is continued
 * instead: its segments stay and its target duration never shrinks.
 */
export class LiveWindow {
  private window: PlaylistSegment[] = [];
  private mediaSequence = 0;
  private discontinuitySequence = 0;
  private targetDuration = 0;
  private ended = false;

  constructor(readonly windowSegments: number) {}

  get segments(): readonly PlaylistSegment[] { return this.window; }

  /** Whether segments came before the next one (in this window or already slid out): it then follows a discontinuity. */
  get continuesEarlierMedia(): boolean { return this.mediaSequence > 0 || this.window.length > 0; }

  /** Continues a playlist written before this process took the stream over. */
  resume(state: LiveWindowState): void {
    this.window = state.segments.slice();
    this.mediaSequence = state.mediaSequence;
    this.discontinuitySequence = state.discontinuitySequence;
    this.targetDuration = state.targetDuration;
    this.ended = state.ended;
    this.slide();
  }

  /** A broadcast with this target duration starts; call before its first add(). */
  startBroadcast(targetDuration: number): void {
    if (this.ended) {
      this.slide(0);
      this.targetDuration = targetDuration;
    } else {
      this.targetDuration = Math.max(this.targetDuration, targetDuration);
    }
    this.ended = false;
  }

  add(segment: PlaylistSegment): void {
    this.window.push(segment);
    this.slide();
  }

  /** The broadcast ended: the next render() carries EXT-X-ENDLIST. */
  end(): void {
    this.ended = true;
  }

  render(): string {
    return [
      ...header(this.targetDuration, this.mediaSequence),
      `#EXT-X-DISCONTINUITY-SEQUENCE:${this.discontinuitySequence}`,
      ...segmentLines(this.window),
      ...(this.ended ? ['#EXT-X-ENDLIST'] : []),
      '',
    ].join('\n');
  }

  private slide(keep = this.windowSegments): void {
    while (this.window.length > keep) {
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
  const state: LiveWindowState = { targetDuration: 0, mediaSequence: 0, discontinuitySequence: 0, segments: [], ended: false };
  let duration: number | null = null;
  let discontinuity = false;
  let programDateTime: number | undefined;
  const intTag = (line: string) => Number.parseInt(line.slice(line.indexOf(':') + 1), 10);
  for (const line of lines) {
    if (line.startsWith('#EXT-X-TARGETDURATION:')) state.targetDuration = intTag(line);
    else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) state.mediaSequence = intTag(line);
    else if (line.startsWith('#EXT-X-DISCONTINUITY-SEQUENCE:')) state.discontinuitySequence = intTag(line);
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true;
    else if (line === '#EXT-X-ENDLIST') state.ended = true;
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) programDateTime = Date.parse(line.slice(line.indexOf(':') + 1));
    else if (line.startsWith('#EXTINF:')) duration = Number.parseFloat(line.slice(8));
    else if (line !== '' && !line.startsWith('#') && duration !== null) {
      const segment: PlaylistSegment = { uri: line, durationSec: duration, discontinuity };
      if (programDateTime !== undefined && Number.isFinite(programDateTime)) segment.programDateTime = programDateTime;
      state.segments.push(segment);
      duration = null;
      discontinuity = false;
      programDateTime = undefined;
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
