/**
 * Timed, loss-aware reading of a live MPEG-TS stream as it arrives in UDP
 * datagrams (what srt-live-transmit hands over): the benchmark's SRT reader.
 * For each video PES it reports the presentation timestamp, when its last
 * packet arrived and whether it arrived whole. Unlike test/helpers/ts-demux.ts
 * (a strict checker of complete files) it expects missing packets and counts
 * them instead of reporting errors.
 *
 * Whole means: no continuity-counter gap on the video PID from the packet
 * that started the PES to the one that started the next. A gap just before a
 * PES start cannot be told from a gap at the end of the previous PES (video
 * PES have no length in TS), so it counts against the previous frame: the
 * reader errs towards "not whole", never towards "whole".
 */

const PACKET_BYTES = 188;
const STREAM_TYPE_H264 = 0x1b;
const STREAM_TYPE_H265 = 0x24;

export interface TsVideoFrame {
  /** PTS in ms (90 kHz / 90, rounded). */
  timestamp: number;
  /** When the frame's last packet arrived. */
  arrivedAt: number;
  whole: boolean;
}

interface PendingPes {
  header: Buffer | null;
  whole: boolean;
  lastAt: number;
}

export class TsFrameReader {
  /** Elementary-stream bytes (PES payloads, audio and video) received: the media bytes. */
  mediaBytes = 0;
  /** Packets the continuity counters say never arrived (media PIDs). */
  missingPackets = 0;
  private pmtPid = -1;
  private videoPid = -1;
  /** The PIDs the PMT lists (SDT and other tables are not media). */
  private readonly mediaPids = new Set<number>();
  private readonly continuity = new Map<number, number>();
  private readonly pending = new Map<number, PendingPes>();

  constructor(private readonly onVideoFrame: (frame: TsVideoFrame) => void) {}

  /** One datagram of whole TS packets (anything after the last whole packet is ignored). */
  push(datagram: Buffer, arrivedAt: number): void {
    for (let offset = 0; offset + PACKET_BYTES <= datagram.length; offset += PACKET_BYTES) {
      this.packet(datagram.subarray(offset, offset + PACKET_BYTES), arrivedAt);
    }
  }

  /** Reports the video PES still open (call when the stream ends). */
  finish(): void {
    const pes = this.pending.get(this.videoPid);
    if (pes) this.emit(pes);
    this.pending.delete(this.videoPid);
  }

  private packet(p: Buffer, arrivedAt: number): void {
    if (p[0] !== 0x47) return;
    const pusi = (p[1]! & 0x40) !== 0;
    const pid = ((p[1]! & 0x1f) << 8) | p[2]!;
    const afc = (p[3]! >> 4) & 0x03;
    if (!(afc & 0x01)) return; // no payload: the counter does not advance
    const start = afc & 0x02 ? 5 + p[4]! : 4;
    if (start >= PACKET_BYTES) return;
    const payload = p.subarray(start);
    if (pid === 0 || pid === this.pmtPid) {
      if (pusi) this.psi(pid, payload);
      return;
    }
    if (!this.mediaPids.has(pid)) return;
    const cc = p[3]! & 0x0f;
    const previous = this.continuity.get(pid);
    this.continuity.set(pid, cc);
    let gap = 0;
    if (previous !== undefined && cc !== previous) gap = (cc - previous - 1 + 16) & 0x0f; // equal: a duplicate, allowed once
    this.missingPackets += gap;
    let pes = this.pending.get(pid);
    if (gap > 0 && pes) pes.whole = false;
    if (pusi) {
      if (pes && pid === this.videoPid) this.emit(pes);
      pes = { header: null, whole: true, lastAt: arrivedAt };
      this.pending.set(pid, pes);
      const headerEnd = 9 + (payload[8] ?? 0);
      if (payload.length < 14 || payload[0] !== 0 || payload[1] !== 0 || payload[2] !== 1 || !(payload[7]! & 0x80)) {
        pes.whole = false; // no PES header with a PTS where one must start
      } else pes.header = Buffer.from(payload.subarray(9, 14));
      this.mediaBytes += Math.max(0, payload.length - headerEnd);
    } else if (pes) {
      pes.lastAt = arrivedAt;
      this.mediaBytes += payload.length;
    }
  }

  private emit(pes: PendingPes): void {
    if (!pes.header) return; // its start never arrived: nothing says which frame it was
    this.onVideoFrame({ timestamp: Math.round(readPts(pes.header) / 90), arrivedAt: pes.lastAt, whole: pes.whole });
  }

  /** PAT and PMT; their sections fit one packet in every stream this reads. */
  private psi(pid: number, payload: Buffer): void {
    const section = payload.subarray(1 + payload[0]!);
    if (section.length < 12) return;
    const end = Math.min(section.length, 3 + (((section[1]! & 0x0f) << 8) | section[2]!)) - 4; // before the CRC
    if (pid === 0) {
      this.pmtPid = ((section[10]! & 0x1f) << 8) | section[11]!;
      return;
    }
    const infoLength = ((section[10]! & 0x0f) << 8) | section[11]!;
    for (let i = 12 + infoLength; i + 5 <= end; i += 5 + (((section[i + 3]! & 0x0f) << 8) | section[i + 4]!)) {
      const streamType = section[i]!;
      const streamPid = ((section[i + 1]! & 0x1f) << 8) | section[i + 2]!;
      this.mediaPids.add(streamPid);
      if (streamType === STREAM_TYPE_H264 || streamType === STREAM_TYPE_H265) this.videoPid = streamPid;
    }
  }
}

/** The 33-bit PTS of a PES header's 5 timestamp bytes. */
function readPts(b: Buffer): number {
  return ((b[0]! >> 1) & 0x07) * 2 ** 30 + (b.readUInt16BE(1) >> 1) * 2 ** 15 + (b.readUInt16BE(3) >> 1);
}
