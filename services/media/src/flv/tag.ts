/**
 * Reading the few fields of an FLV/RTMP audio or video tag body that the
 * hub and the muxers need: codec, keyframe, sequence header, composition
 * time. Handles both legacy tags (CodecID in the low nibble) and Enhanced
 * RTMP (veovera enhanced-rtmp v1/v2: IsExHeader bit + PacketType + FourCC).
 */

export const TAG_AUDIO = 8;
export const TAG_VIDEO = 9;
export const TAG_SCRIPT = 18;

export type VideoCodec = 'h264' | 'hevc' | 'av1' | 'vp9' | 'unknown';
export type AudioCodec = 'aac' | 'mp3' | 'opus' | 'unknown';

/** Enhanced RTMP video packet types (ExVideoPacketType). */
export const enum ExVideoPacketType {
  SequenceStart = 0,
  CodedFrames = 1,
  SequenceEnd = 2,
  CodedFramesX = 3,
  Metadata = 4,
  MPEG2TSSequenceStart = 5,
  Multitrack = 6,
}

export interface VideoTagInfo {
  codec: VideoCodec;
  keyframe: boolean;
  sequenceHeader: boolean;
  /** End of sequence marker (AVC packet type 2 / ExVideoPacketType.SequenceEnd). */
  endOfSequence: boolean;
  /** Composition time offset in ms (PTS - DTS). 0 where the format has none. */
  cts: number;
  /** Offset of the codec payload (AVCC NAL units or config record) inside the tag body. */
  dataOffset: number;
  enhanced: boolean;
}

export interface AudioTagInfo {
  codec: AudioCodec;
  sequenceHeader: boolean;
  dataOffset: number;
}

const FOURCC: Record<string, VideoCodec> = { hvc1: 'hevc', av01: 'av1', vp09: 'vp9', avc1: 'h264' };

/** Returns null when the body is too short to be a video tag. */
export function parseVideoTag(body: Buffer): VideoTagInfo | null {
  if (body.length < 1) return null;
  const b0 = body[0]!;
  const frameType = (b0 >> 4) & 0x07;
  if (b0 & 0x80) {
    // Enhanced RTMP: [IsExHeader:1][FrameType:3][PacketType:4][FourCC:32]
    if (body.length < 5) return null;
    const packetType = b0 & 0x0f;
    const codec = FOURCC[body.toString('latin1', 1, 5)] ?? 'unknown';
    let dataOffset = 5;
    let cts = 0;
    if (packetType === ExVideoPacketType.CodedFrames && (codec === 'hevc' || codec === 'h264')) {
      if (body.length < 8) return null;
      cts = body.readIntBE(5, 3);
      dataOffset = 8;
    }
    return {
      codec,
      keyframe: frameType === 1,
      sequenceHeader: packetType === ExVideoPacketType.SequenceStart,
      endOfSequence: packetType === ExVideoPacketType.SequenceEnd,
      cts,
      dataOffset,
      enhanced: true,
    };
  }
  const codecId = b0 & 0x0f;
  if (codecId === 7 || codecId === 12) {
    // AVC (7) or the pre-standard HEVC id 12 used by some Chinese encoders.
    if (body.length < 5) return null;
    const packetType = body[1]!;
    return {
      codec: codecId === 7 ? 'h264' : 'hevc',
      keyframe: frameType === 1,
      sequenceHeader: packetType === 0,
      endOfSequence: packetType === 2,
      cts: body.readIntBE(2, 3),
      dataOffset: 5,
      enhanced: false,
    };
  }
  return { codec: 'unknown', keyframe: frameType === 1, sequenceHeader: false, endOfSequence: false, cts: 0, dataOffset: 1, enhanced: false };
}

export function parseAudioTag(body: Buffer): AudioTagInfo | null {
  if (body.length < 1) return null;
  const format = body[0]! >> 4;
  if (format === 10) {
    if (body.length < 2) return null;
    return { codec: 'aac', sequenceHeader: body[1] === 0, dataOffset: 2 };
  }
  if (format === 2 || format === 14) return { codec: 'mp3', sequenceHeader: false, dataOffset: 1 };
  return { codec: 'unknown', sequenceHeader: false, dataOffset: 1 };
}
