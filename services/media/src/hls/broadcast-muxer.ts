import type { MediaPacket } from '../hub/media-packet.js';
import { parseAudioSpecificConfig, type AdtsConfig } from './adts.js';
import { parseAvcc, parseHvcc, type DecoderConfig } from './annexb.js';
import { Segmenter, type SegmenterLimits } from './segmenter.js';
import { TsMuxer } from './ts-muxer.js';

export interface MuxedSegment {
  body: Buffer;
  durationMs: number;
  /** The codec configuration changed: players must reset their decoders before this segment. */
  discontinuity: boolean;
  /** This segment hit a cap and was cut where no segment could start (the next one starts without a keyframe). */
  forcedCut?: 'duration' | 'bytes';
}

/** Why a packet was not muxed, for the log (each reason is logged once per broadcast). */
export type SkipReason = 'unsupported codec' | 'malformed frame' | 'track appeared after start';

/**
 * Turns one broadcast's packets into whole MPEG-TS segments: tracks the
 * codec configuration (sequence headers), unwraps the 32-bit FLV clock,
 * asks the Segmenter where to cut and feeds the TsMuxer. Synchronous and
 * free of I/O: finished segments go to `onSegment`.
 */
export class BroadcastMuxer {
  private video: DecoderConfig | null = null;
  private audio: AdtsConfig | null = null;
  private muxer: TsMuxer | null = null;
  /** The tracks changed shape (e.g. H.264 to HEVC): a new program starts at the next cut. */
  private rebuildMuxer = false;
  /** The open segment starts a new program (codec change). */
  private openSegmentDiscontinuous = false;
  private readonly segmenter: Segmenter;
  private readonly clock = new TimestampUnwrapper();

  constructor(
    limits: SegmenterLimits,
    /** True while video is announced (onMetaData) but its sequence header has not arrived: audio waits. */
    private readonly videoAnnounced: () => boolean,
    private readonly onSegment: (segment: MuxedSegment) => void,
    private readonly onSkip: (reason: SkipReason, packet: MediaPacket) => void = () => {},
  ) {
    this.segmenter = new Segmenter(limits);
  }

  push(packet: MediaPacket): void {
    if (packet.video) this.pushVideo(packet);
    else if (packet.audio) this.pushAudio(packet);
  }

  /** Later segments last at most `maxMs`, cut without a keyframe if need be (see Segmenter). */
  capSegmentsAt(maxMs: number): void {
    this.segmenter.setMaxMs(maxMs);
  }

  /** Cuts the last segment (end of broadcast). */
  finish(): void {
    const durationMs = this.segmenter.finish();
    if (durationMs !== null && this.muxer) this.emit(durationMs);
  }

  private pushVideo(packet: MediaPacket): void {
    const info = packet.video!;
    if (info.codec !== 'h264' && info.codec !== 'hevc') return this.onSkip('unsupported codec', packet);
    const data = packet.payload.subarray(info.dataOffset);
    if (info.sequenceHeader) {
      const config = info.codec === 'h264' ? parseAvcc(data) : parseHvcc(data);
      if (!config) return this.onSkip('malformed frame', packet);
      this.video = config;
      this.reconfigure();
      return;
    }
    if (info.endOfSequence || !this.video || this.video.codec !== info.codec) return;
    const dtsMs = this.clock.unwrap(packet.timestamp);
    if (!this.place(dtsMs, info.keyframe, true)) return;
    if (!this.muxer!.hasVideo) return this.onSkip('track appeared after start', packet);
    if (!this.muxer!.writeVideo(dtsMs, info.cts, info.keyframe, data)) this.onSkip('malformed frame', packet);
  }

  private pushAudio(packet: MediaPacket): void {
    const info = packet.audio!;
    if (info.codec !== 'aac') return this.onSkip('unsupported codec', packet);
    const data = packet.payload.subarray(info.dataOffset);
    if (info.sequenceHeader) {
      const config = parseAudioSpecificConfig(data);
      if (!config) return this.onSkip('malformed frame', packet);
      this.audio = config;
      this.reconfigure();
      return;
    }
    if (!this.audio) return;
    // Before the first segment, audio of a stream that will have video waits for the first keyframe.
    const audioOnly = this.muxer ? !this.muxer.hasVideo : !this.video && !this.videoAnnounced();
    const dtsMs = this.clock.unwrap(packet.timestamp);
    if (!this.place(dtsMs, audioOnly, audioOnly)) return;
    if (!this.muxer!.hasAudio) return this.onSkip('track appeared after start', packet);
    if (!this.muxer!.writeAudio(dtsMs, data)) this.onSkip('malformed frame', packet);
  }

  /** New sequence header: same track shape → new parameter sets from the next keyframe; otherwise a new program at the next cut. */
  private reconfigure(): void {
    if (this.muxer && !this.muxer.updateTracks({ video: this.video, audio: this.audio })) {
      this.rebuildMuxer = true;
      this.segmenter.requestCut();
    }
  }

  /** Runs the segmenter for a frame; false if the frame comes before the first segment. */
  private place(dtsMs: number, startsSegment: boolean, clock: boolean): boolean {
    const placement = this.segmenter.place({ dtsMs, startsSegment, clock, segmentBytes: this.muxer?.pendingBytes ?? 0 });
    if (placement.action === 'skip') return false;
    if (placement.action === 'cut') this.emit(placement.durationMs, placement.forced);
    if (placement.action !== 'append') {
      if (!this.muxer || this.rebuildMuxer) {
        this.openSegmentDiscontinuous = this.muxer !== null;
        this.muxer = new TsMuxer({ video: this.video, audio: this.audio });
        this.rebuildMuxer = false;
      }
      this.muxer.writeTables();
    }
    return true;
  }

  private emit(durationMs: number, forcedCut?: 'duration' | 'bytes'): void {
    this.onSegment({ body: this.muxer!.takeOutput(), durationMs, discontinuity: this.openSegmentDiscontinuous, ...(forcedCut ? { forcedCut } : {}) });
    this.openSegmentDiscontinuous = false;
  }
}

/** Extends FLV's 32-bit millisecond timestamps past their wrap (every ~49.7 days). */
export class TimestampUnwrapper {
  private base = 0;
  private last: number | null = null;

  unwrap(timestamp: number): number {
    let value = this.base + timestamp;
    if (this.last !== null && value < this.last - 2 ** 31) {
      this.base += 2 ** 32;
      value += 2 ** 32;
    }
    this.last = value;
    return value;
  }
}
