import { ADTS_HEADER_BYTES, writeAdtsHeader, type AdtsConfig } from './adts.js';
import { ACCESS_UNIT_DELIMITER, forEachNal, isAccessUnitDelimiter, isSequenceParameterSet, nalType, START_CODE, type DecoderConfig } from './annexb.js';
import { crc32Mpeg } from './crc32-mpeg.js';

/**
 * An MPEG-TS muxer (ISO 13818-1) for one program with at most one video
 * (H.264 or HEVC) and one AAC track, fed with FLV-style frames. Output goes
 * into reusable 64 KB blocks, written 188 bytes at a time in place, and is
 * handed out per segment with takeOutput(): the only allocation per segment
 * is the segment Buffer itself.
 */

export const TS_PACKET_BYTES = 188;
export const PMT_PID = 0x1000;
export const VIDEO_PID = 0x100;
export const AUDIO_PID = 0x101;
export const STREAM_TYPE = { h264: 0x1b, hevc: 0x24, aac: 0x0f } as const;
/** Added to every timestamp so the PCR, which runs slightly ahead of decoding, never goes negative. */
export const TIMESTAMP_OFFSET_90K = 90_000;
/** How far the PCR (the decoder clock) is behind the DTS of the frame that carries it. */
const PCR_LEAD_90K = 9_000;
const PTS_MASK = 2 ** 33;
/**
 * ISO 13818-1 wants a PCR at least every 100 ms. Video frames carry it, so
 * below 10 fps (or when video pauses) audio inserts adaptation-only packets
 * with a PCR on the video PID in between, early enough that one more AAC
 * frame (23 ms at 44.1 kHz) still falls within the 100 ms.
 */
const PCR_INTERVAL_MS = 70;

export interface TsTracks {
  video: DecoderConfig | null;
  audio: AdtsConfig | null;
}

const BLOCK_PACKETS = 348; // 65,424 bytes

export class TsMuxer {
  private readonly blocks: Buffer[] = [Buffer.allocUnsafe(BLOCK_PACKETS * TS_PACKET_BYTES)];
  private blockIndex = 0;
  private blockPos = 0;
  private readonly continuity = new Map<number, number>();
  private readonly pat: Buffer;
  private readonly pmt: Buffer;
  private readonly pcrPid: number;
  /** The pieces of the PES being written (header, AUD, parameter sets, NAL units): views, never copies. */
  private readonly parts: Buffer[] = [];
  private partsBytes = 0;
  private readonly pesHeader = Buffer.alloc(19);
  private readonly adtsHeader = Buffer.alloc(ADTS_HEADER_BYTES);
  /** DTS (ms) of the last PCR written on the video PID. */
  private lastPcrMs: number | null = null;

  constructor(private tracks: TsTracks) {
    if (!tracks.video && !tracks.audio) throw new Error('a TS program needs at least one track');
    this.pcrPid = tracks.video ? VIDEO_PID : AUDIO_PID;
    this.pat = psiPacket(0, patSection());
    this.pmt = psiPacket(PMT_PID, pmtSection(tracks, this.pcrPid));
  }

  get hasVideo(): boolean { return this.tracks.video !== null; }
  get hasAudio(): boolean { return this.tracks.audio !== null; }

  /** Replaces the decoder configuration of a track the program already has (new SPS/PPS, same codec). */
  updateTracks(tracks: TsTracks): boolean {
    const sameShape = (tracks.video?.codec ?? null) === (this.tracks.video?.codec ?? null) && (tracks.audio === null) === (this.tracks.audio === null);
    if (sameShape) this.tracks = tracks;
    return sameShape;
  }

  /** Bytes muxed since the last takeOutput(). */
  get pendingBytes(): number {
    return this.blockIndex * BLOCK_PACKETS * TS_PACKET_BYTES + this.blockPos;
  }

  /** PAT and PMT: written at the start of every segment so each one can be decoded on its own. */
  writeTables(): void {
    this.writeStatic(this.pat, 0);
    this.writeStatic(this.pmt, PMT_PID);
  }

  /**
   * One video access unit. `data` is the AVCC/HVCC payload (length-prefixed NAL
   * units); timestamps are in ms (unwrapped). Returns false if the payload was
   * malformed and nothing was written.
   */
  writeVideo(dtsMs: number, ctsMs: number, keyframe: boolean, data: Buffer): boolean {
    const video = this.tracks.video;
    if (!video) return false;
    this.resetParts();
    this.addPart(ACCESS_UNIT_DELIMITER[video.codec]);
    // Parameter sets the frame carries in band are newer than the configuration record's: keep them.
    let inBandParameterSets = false;
    if (keyframe) {
      forEachNal(data, video.lengthSize, (nal) => { inBandParameterSets ||= isSequenceParameterSet(video.codec, nalType(video.codec, nal)); });
      if (!inBandParameterSets) for (const ps of video.parameterSets) { this.addPart(START_CODE); this.addPart(ps); }
    }
    let frameNals = 0;
    const ok = forEachNal(data, video.lengthSize, (nal) => {
      if (isAccessUnitDelimiter(video.codec, nalType(video.codec, nal))) return; // ours comes first
      this.addPart(START_CODE);
      this.addPart(nal);
      frameNals++;
    });
    if (!ok || frameNals === 0) return false;
    const dts = msTo90k(dtsMs);
    const pts = msTo90k(dtsMs + ctsMs);
    // PES_packet_length 0 (unbounded) is allowed only for video, and needed for frames over 64 KB.
    this.writePes(VIDEO_PID, 0xe0, pts, dts, keyframe, true);
    this.lastPcrMs = dtsMs;
    return true;
  }

  /** One raw AAC frame (without ADTS header) at `dtsMs`. */
  writeAudio(dtsMs: number, frame: Buffer): boolean {
    const audio = this.tracks.audio;
    if (!audio || frame.length === 0 || frame.length + ADTS_HEADER_BYTES > 0x1fff) return false;
    this.resetParts();
    writeAdtsHeader(audio, frame.length, this.adtsHeader);
    this.addPart(this.adtsHeader);
    this.addPart(frame);
    if (this.pcrPid === VIDEO_PID && this.lastPcrMs !== null && dtsMs - this.lastPcrMs >= PCR_INTERVAL_MS) this.writePcrOnly(dtsMs);
    const pts = msTo90k(dtsMs);
    // Every AAC frame is a random access point; audio-only streams carry the PCR here.
    this.writePes(AUDIO_PID, 0xc0, pts, pts, this.pcrPid === AUDIO_PID, false);
    return true;
  }

  /** Everything muxed since the last call, as one Buffer; the blocks are reused. */
  takeOutput(): Buffer {
    const filled = this.blocks.slice(0, this.blockIndex);
    const out = Buffer.concat([...filled, this.blocks[this.blockIndex]!.subarray(0, this.blockPos)]);
    this.blockIndex = 0;
    this.blockPos = 0;
    return out;
  }

  private resetParts(): void {
    this.parts.length = 0;
    this.partsBytes = 0;
  }

  private addPart(part: Buffer): void {
    this.parts.push(part);
    this.partsBytes += part.length;
  }

  /** Claims the next free 188-byte slot; returns its offset in the current block. */
  private nextPacket(): number {
    if (this.blockPos === BLOCK_PACKETS * TS_PACKET_BYTES) {
      this.blockIndex++;
      this.blockPos = 0;
      if (this.blockIndex === this.blocks.length) this.blocks.push(Buffer.allocUnsafe(BLOCK_PACKETS * TS_PACKET_BYTES));
    }
    const offset = this.blockPos;
    this.blockPos += TS_PACKET_BYTES;
    return offset;
  }

  private nextContinuity(pid: number): number {
    const cc = ((this.continuity.get(pid) ?? 15) + 1) & 0x0f;
    this.continuity.set(pid, cc);
    return cc;
  }

  private writeStatic(packet: Buffer, pid: number): void {
    const offset = this.nextPacket();
    const block = this.blocks[this.blockIndex]!;
    packet.copy(block, offset);
    block[offset + 3] = (block[offset + 3]! & 0xf0) | this.nextContinuity(pid);
  }

  /** An adaptation-field-only packet on the PCR PID carrying a PCR for `dtsMs` (no payload, so the continuity counter stays). */
  private writePcrOnly(dtsMs: number): void {
    const offset = this.nextPacket();
    const block = this.blocks[this.blockIndex]!;
    block[offset] = 0x47;
    block[offset + 1] = this.pcrPid >> 8;
    block[offset + 2] = this.pcrPid & 0xff;
    block[offset + 3] = 0x20 | (this.continuity.get(this.pcrPid) ?? 15);
    block[offset + 4] = TS_PACKET_BYTES - 5;
    block[offset + 5] = 0x10;
    writePcr(block, offset + 6, (msTo90k(dtsMs) - PCR_LEAD_90K + PTS_MASK) % PTS_MASK);
    block.fill(0xff, offset + 12, offset + TS_PACKET_BYTES);
    this.lastPcrMs = dtsMs;
  }

  /** Writes the PES header plus this.parts as TS packets on `pid`. */
  private writePes(pid: number, streamId: number, pts: number, dts: number, randomAccess: boolean, unbounded: boolean): void {
    const header = this.pesHeader;
    const withDts = pts !== dts;
    const headerDataBytes = withDts ? 10 : 5;
    const headerBytes = 9 + headerDataBytes;
    const pesLength = unbounded ? 0 : 3 + headerDataBytes + this.partsBytes;
    header[0] = 0; header[1] = 0; header[2] = 1; header[3] = streamId;
    header.writeUInt16BE(pesLength > 0xffff ? 0 : pesLength, 4);
    header[6] = 0x80; // marker bits '10', no scrambling
    header[7] = withDts ? 0xc0 : 0x80;
    header[8] = headerDataBytes;
    writeTimestamp(header, 9, withDts ? 0x3 : 0x2, pts);
    if (withDts) writeTimestamp(header, 14, 0x1, dts);
    this.parts.unshift(header.subarray(0, headerBytes));
    this.partsBytes += headerBytes;

    const withPcr = pid === this.pcrPid;
    let remaining = this.partsBytes;
    let partIndex = 0;
    let partOffset = 0;
    let first = true;
    while (remaining > 0) {
      const offset = this.nextPacket();
      const block = this.blocks[this.blockIndex]!;
      block[offset] = 0x47;
      block[offset + 1] = (first ? 0x40 : 0) | (pid >> 8);
      block[offset + 2] = pid & 0xff;
      let pos = offset + 4;
      const fields = first && (withPcr || randomAccess);
      const fieldBytes = fields ? 2 + (withPcr ? 6 : 0) : 0; // length byte + flags [+ PCR]
      const stuffing = Math.max(0, TS_PACKET_BYTES - 4 - fieldBytes - remaining);
      const adaptationBytes = fieldBytes + stuffing; // includes its own length byte
      block[offset + 3] = (adaptationBytes > 0 ? 0x30 : 0x10) | this.nextContinuity(pid);
      if (adaptationBytes > 0) {
        block[pos] = adaptationBytes - 1;
        if (adaptationBytes > 1) {
          block[pos + 1] = (fields && randomAccess ? 0x40 : 0) | (fields && withPcr ? 0x10 : 0);
          let fieldEnd = pos + 2;
          if (fields && withPcr) {
            writePcr(block, pos + 2, (dts - PCR_LEAD_90K + PTS_MASK) % PTS_MASK);
            fieldEnd += 6;
          }
          block.fill(0xff, fieldEnd, pos + adaptationBytes);
        }
        pos += adaptationBytes;
      }
      // Copy payload from the parts until the packet is full.
      const end = offset + TS_PACKET_BYTES;
      while (pos < end) {
        const part = this.parts[partIndex]!;
        const n = Math.min(part.length - partOffset, end - pos);
        part.copy(block, pos, partOffset, partOffset + n);
        pos += n;
        partOffset += n;
        remaining -= n;
        if (partOffset === part.length) { partIndex++; partOffset = 0; }
      }
      first = false;
    }
  }
}

export function msTo90k(ms: number): number {
  return (Math.round(ms * 90) + TIMESTAMP_OFFSET_90K) % PTS_MASK;
}

/** A 33-bit PTS/DTS in the PES header's 5-byte form, with the 4-bit `prefix`. */
function writeTimestamp(out: Buffer, offset: number, prefix: number, ts: number): void {
  const high = Math.floor(ts / 2 ** 30) & 0x07;
  const mid = Math.floor(ts / 2 ** 15) & 0x7fff;
  const low = ts & 0x7fff;
  out[offset] = (prefix << 4) | (high << 1) | 1;
  out.writeUInt16BE((mid << 1) | 1, offset + 1);
  out.writeUInt16BE((low << 1) | 1, offset + 3);
}

/** program_clock_reference_base (33 bits) with extension 0. */
function writePcr(out: Buffer, offset: number, base: number): void {
  out.writeUInt32BE(Math.floor(base / 2), offset);
  out[offset + 4] = ((base & 1) << 7) | 0x7e;
  out[offset + 5] = 0;
}

function patSection(): Buffer {
  const s = Buffer.from([0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff, 0, 0, 0, 0]);
  s.writeUInt32BE(crc32Mpeg(s, 0, s.length - 4), s.length - 4);
  return s;
}

function pmtSection(tracks: TsTracks, pcrPid: number): Buffer {
  const streams: Array<[number, number]> = [];
  if (tracks.video) streams.push([STREAM_TYPE[tracks.video.codec], VIDEO_PID]);
  if (tracks.audio) streams.push([STREAM_TYPE.aac, AUDIO_PID]);
  const sectionLength = 9 + streams.length * 5 + 4;
  const s = Buffer.alloc(3 + sectionLength);
  s[0] = 0x02;
  s.writeUInt16BE(0xb000 | sectionLength, 1);
  s.writeUInt16BE(1, 3); // program number
  s[5] = 0xc1; // version 0, current
  s[6] = 0; s[7] = 0;
  s.writeUInt16BE(0xe000 | pcrPid, 8);
  s.writeUInt16BE(0xf000, 10); // no program descriptors
  let pos = 12;
  for (const [type, pid] of streams) {
    s[pos] = type;
    s.writeUInt16BE(0xe000 | pid, pos + 1);
    s.writeUInt16BE(0xf000, pos + 3);
    pos += 5;
  }
  s.writeUInt32BE(crc32Mpeg(s, 0, pos), pos);
  return s;
}

/** A complete PSI packet (pointer field 0, section, 0xFF fill); the continuity counter is patched per write. */
function psiPacket(pid: number, section: Buffer): Buffer {
  const p = Buffer.alloc(TS_PACKET_BYTES, 0xff);
  p[0] = 0x47;
  p[1] = 0x40 | (pid >> 8);
  p[2] = pid & 0xff;
  p[3] = 0x10;
  p[4] = 0;
  section.copy(p, 5);
  return p;
}
