import { parseAudioTag, parseVideoTag, TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, type AudioTagInfo, type VideoTagInfo } from '../flv/tag.js';

/**
 * One audio, video or script message of a live stream, as it arrived from the
 * publisher (an RTMP message body is an FLV tag body). A packet is created
 * once and shared by every viewer: its payload is never copied or mutated, and
 * the per-protocol wire forms (RTMP chunks, FLV tag) are encoded at most once
 * and cached here, so fan-out to N viewers writes the same Buffers N times.
 */
export class MediaPacket {
  readonly video: VideoTagInfo | null;
  readonly audio: AudioTagInfo | null;
  /** Cached wire encodings keyed by encoder name (e.g. 'flv', 'rtmp:4096'). */
  private readonly encoded = new Map<string, Buffer[]>();

  constructor(
    /** FLV tag type: 8 audio, 9 video, 18 script data. */
    readonly type: number,
    /** Decode timestamp in ms, as the publisher sent it (32-bit, may wrap). */
    readonly timestamp: number,
    /** FLV tag body / RTMP message payload. */
    readonly payload: Buffer,
  ) {
    this.video = type === TAG_VIDEO ? parseVideoTag(payload) : null;
    this.audio = type === TAG_AUDIO ? parseAudioTag(payload) : null;
  }

  get isVideo(): boolean { return this.type === TAG_VIDEO; }
  get isAudio(): boolean { return this.type === TAG_AUDIO; }
  get isScript(): boolean { return this.type === TAG_SCRIPT; }
  /** A coded keyframe a decoder can start from (not a sequence header, nor the end-of-sequence marker encoders flag as key). */
  get isKeyframe(): boolean {
    return this.video !== null && this.video.keyframe && !this.video.sequenceHeader && !this.video.endOfSequence;
  }
  get isSequenceHeader(): boolean {
    return (this.video?.sequenceHeader ?? false) || (this.audio?.sequenceHeader ?? false);
  }

  /** Returns the cached encoding under `key`, computing it once with `encode`. */
  encodedAs(key: string, encode: (p: MediaPacket) => Buffer[]): Buffer[] {
    let parts = this.encoded.get(key);
    if (!parts) {
      parts = encode(this);
      this.encoded.set(key, parts);
    }
    return parts;
  }
}
