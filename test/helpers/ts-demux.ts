/**
 * A small, strict MPEG-TS demuxer for tests: it reads what the HLS muxer
 * wrote back into PES frames and reports every structural problem it sees
 * (sync byte, continuity counters, PSI CRC, adaptation field lengths,
 * PES headers) instead of silently resyncing the way players do.
 */
import { crc32Mpeg } from '@bridgecast/media/hls/crc32-mpeg.js';

export interface DemuxedFrame {
  pid: number;
  streamType: number;
  pts: number;
  dts: number;
  data: Buffer;
  /** random_access_indicator of the packet that started the PES. */
  randomAccess: boolean;
}

export interface DemuxResult {
  streams: Array<{ pid: number; streamType: number }>;
  pcrPid: number | null;
  frames: DemuxedFrame[];
  /** PCR values (27 MHz base units / 300, i.e. 90 kHz) in packet order. */
  pcrs: Array<{ pid: number; base: number }>;
  errors: string[];
  patCount: number;
}

export function demuxTs(ts: Buffer): DemuxResult {
  const result: DemuxResult = { streams: [], pcrPid: null, frames: [], pcrs: [], errors: [], patCount: 0 };
  if (ts.length % 188 !== 0) result.errors.push(`length ${ts.length} is not a multiple of 188`);
  const continuity = new Map<number, number>();
  let pmtPid: number | null = null;
  const pending = new Map<number, { chunks: Buffer[]; randomAccess: boolean }>();
  const finishPes = (pid: number): void => {
    const pes = pending.get(pid);
    pending.delete(pid);
    if (!pes) return;
    const frame = parsePes(Buffer.concat(pes.chunks), result.errors);
    if (!frame) return;
    const streamType = result.streams.find((s) => s.pid === pid)?.streamType ?? -1;
    result.frames.push({ pid, streamType, ...frame, randomAccess: pes.randomAccess });
  };

  for (let off = 0; off + 188 <= ts.length; off += 188) {
    const p = ts.subarray(off, off + 188);
    const at = `packet ${off / 188}`;
    if (p[0] !== 0x47) { result.errors.push(`${at}: bad sync byte`); continue; }
    const pusi = (p[1]! & 0x40) !== 0;
    const pid = ((p[1]! & 0x1f) << 8) | p[2]!;
    const afc = (p[3]! >> 4) & 0x03;
    const cc = p[3]! & 0x0f;
    if (afc === 0) { result.errors.push(`${at}: adaptation_field_control 0`); continue; }
    if (afc & 0x01) {
      const previous = continuity.get(pid);
      if (previous !== undefined && cc !== ((previous + 1) & 0x0f)) result.errors.push(`${at}: pid ${pid} continuity ${previous} -> ${cc}`);
      continuity.set(pid, cc);
    }
    let pos = 4;
    let randomAccess = false;
    if (afc & 0x02) {
      const len = p[4]!;
      if (len > (afc === 0x02 ? 183 : 182)) { result.errors.push(`${at}: adaptation field length ${len}`); continue; }
      if (len > 0) {
        const flags = p[5]!;
        randomAccess = (flags & 0x40) !== 0;
        if (flags & 0x10) {
          const base = p.readUInt32BE(6) * 2 + (p[10]! >> 7);
          result.pcrs.push({ pid, base });
        }
      }
      pos = 5 + len;
    }
    if (!(afc & 0x01)) continue;
    const payload = p.subarray(pos);
    if (pid === 0 || pid === pmtPid) {
      if (!pusi) { result.errors.push(`${at}: PSI without payload_unit_start`); continue; }
      const section = payload.subarray(1 + payload[0]!);
      const sectionLength = ((section[1]! & 0x0f) << 8) | section[2]!;
      const end = 3 + sectionLength;
      if (crc32Mpeg(section, 0, end - 4) !== section.readUInt32BE(end - 4)) result.errors.push(`${at}: bad CRC on pid ${pid}`);
      if (pid === 0) {
        result.patCount++;
        pmtPid = ((section[10]! & 0x1f) << 8) | section[11]!;
      } else {
        result.pcrPid = ((section[8]! & 0x1f) << 8) | section[9]!;
        const infoLength = ((section[10]! & 0x0f) << 8) | section[11]!;
        const streams: DemuxResult['streams'] = [];
        for (let i = 12 + infoLength; i < end - 4; i += 5 + (((section[i + 3]! & 0x0f) << 8) | section[i + 4]!)) {
          streams.push({ streamType: section[i]!, pid: ((section[i + 1]! & 0x1f) << 8) | section[i + 2]! });
        }
        result.streams = streams;
      }
      continue;
    }
    if (pusi) {
      finishPes(pid);
      pending.set(pid, { chunks: [payload], randomAccess });
    } else {
      const pes = pending.get(pid);
      if (pes) pes.chunks.push(payload);
      else result.errors.push(`${at}: continuation of pid ${pid} without a start`);
    }
  }
  for (const pid of [...pending.keys()]) finishPes(pid);
  return result;
}

function readTimestamp(b: Buffer, i: number): number {
  return ((b[i]! >> 1) & 0x07) * 2 ** 30 + (b.readUInt16BE(i + 1) >> 1) * 2 ** 15 + (b.readUInt16BE(i + 3) >> 1);
}

function parsePes(pes: Buffer, errors: string[]): { pts: number; dts: number; data: Buffer } | null {
  if (pes.length < 9 || pes[0] !== 0 || pes[1] !== 0 || pes[2] !== 1) { errors.push('PES start code missing'); return null; }
  const declared = pes.readUInt16BE(4);
  const flags = pes[7]!;
  const headerEnd = 9 + pes[8]!;
  if (!(flags & 0x80)) { errors.push('PES without PTS'); return null; }
  const pts = readTimestamp(pes, 9);
  const dts = flags & 0x40 ? readTimestamp(pes, 14) : pts;
  if (declared !== 0 && declared !== pes.length - 6) errors.push(`PES_packet_length ${declared} but ${pes.length - 6} bytes follow`);
  return { pts, dts, data: pes.subarray(headerEnd) };
}

/** Splits Annex B data into NAL units (without start codes). */
export function splitAnnexB(data: Buffer): Buffer[] {
  const nals: Buffer[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < data.length) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) nals.push(data.subarray(start, i > 0 && data[i - 1] === 0 ? i - 1 : i));
      i += 3;
      start = i;
    } else i++;
  }
  if (start >= 0) nals.push(data.subarray(start));
  return nals;
}

/** The inverse for building muxer input: NAL units with 4-byte length prefixes (AVCC/HVCC frame data). */
export function lengthPrefixed(nals: Buffer[]): Buffer {
  return Buffer.concat(nals.flatMap((n) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(n.length);
    return [length, n];
  }));
}
