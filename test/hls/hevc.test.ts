/**
 * HEVC through the HLS muxer. ffmpeg 5.1 cannot publish HEVC over RTMP/FLV,
 * so the test encodes a real HEVC stream with libx265, wraps each access
 * unit the way an FLV publisher would (legacy codec id 12, and Enhanced
 * RTMP 'hvc1'), segments it with BroadcastMuxer and has ffprobe/ffmpeg check
 * the MPEG-TS segments.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BroadcastMuxer, type MuxedSegment } from '@bridgecast/media/hls/broadcast-muxer.js';
import { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { killAllChildren, packetsOf, probeMedia, runFfmpeg, spawnTracked } from '../helpers/ffmpeg.js';
import { enhancedVideoBody } from '../helpers/synthetic-media.js';
import { demuxTs, lengthPrefixed, splitAnnexB } from '../helpers/ts-demux.js';

const LIMITS = { targetMs: 1000, maxMs: 3000, maxBytes: 32 * 1024 * 1024 };
const FPS = 25;
const FRAMES = 75; // 3 s, keyframe every second
let dir: string;
let accessUnits: Array<{ nals: Buffer[]; keyframe: boolean }>;
let parameterSets: Buffer[];

const nalType = (nal: Buffer) => (nal[0]! >> 1) & 0x3f;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-hevc-'));
  const raw = path.join(dir, 'in.hevc');
  await runFfmpeg(['-f', 'lavfi', '-i', `testsrc2=size=160x96:rate=${FPS}`, '-frames:v', String(FRAMES), '-c:v', 'libx265', '-preset', 'ultrafast',
    '-x265-params', `keyint=${FPS}:min-keyint=${FPS}:scenecut=0:bframes=0:log-level=error`, '-pix_fmt', 'yuv420p', '-f', 'hevc', raw]);
  // Group NAL units into access units: after a picture's slices, a prefix SEI (39), an AUD (35) or a
  // slice with first_slice_segment_in_pic_flag starts the next one.
  accessUnits = [];
  parameterSets = [];
  let pending: Buffer[] = [];
  for (const nal of splitAnnexB(await readFile(raw))) {
    const type = nalType(nal);
    if (type >= 32 && type <= 34) { if (parameterSets.length < 3) parameterSets.push(nal); continue; }
    if ((type === 39 || type === 35 || (type < 32 && (nal[2]! & 0x80))) && pending.some((n) => nalType(n) < 32)) {
      accessUnits.push({ nals: pending, keyframe: pending.some((n) => nalType(n) >= 16 && nalType(n) <= 21) });
      pending = [];
    }
    pending.push(nal);
  }
  accessUnits.push({ nals: pending, keyframe: pending.some((n) => nalType(n) >= 16 && nalType(n) <= 21) });
});

after(async () => {
  await killAllChildren();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A minimal HEVCDecoderConfigurationRecord: 4-byte NAL lengths and the VPS/SPS/PPS arrays. */
function hvcc(): Buffer {
  const header = Buffer.alloc(23);
  header[0] = 1;
  header[21] = 0x03;
  header[22] = parameterSets.length;
  return Buffer.concat([header, ...parameterSets.flatMap((ps) => {
    const h = Buffer.alloc(5);
    h[0] = 0x80 | nalType(ps);
    h.writeUInt16BE(1, 1);
    h.writeUInt16BE(ps.length, 3);
    return [h, ps];
  })]);
}


function legacyBody(keyframe: boolean, packetType: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([((keyframe ? 1 : 2) << 4) | 12, packetType, 0, 0, 0]), data]);
}

async function segmentAndCheck(form: 'legacy' | 'enhanced'): Promise<void> {
  const segments: MuxedSegment[] = [];
  const muxer = new BroadcastMuxer(LIMITS, () => false, (s) => segments.push(s), (reason) => assert.fail(`skipped: ${reason}`));
  const config = hvcc();
  muxer.push(new MediaPacket(9, 0, form === 'legacy' ? legacyBody(true, 0, config) : enhancedVideoBody('hvc1', 0, true, config)));
  accessUnits.forEach((au, i) => {
    const data = lengthPrefixed(au.nals);
    // Enhanced RTMP: CodedFramesX (3), the form without a composition time offset.
    muxer.push(new MediaPacket(9, i * (1000 / FPS), form === 'legacy' ? legacyBody(au.keyframe, 1, data) : enhancedVideoBody('hvc1', 3, au.keyframe, data)));
  });
  muxer.finish();
  assert.deepEqual(segments.map((s) => s.durationMs), [1000, 1000, 1000]);
  const files = await Promise.all(segments.map(async (s, i) => {
    const file = path.join(dir, `${form}-${i}.ts`);
    await writeFile(file, s.body);
    return file;
  }));
  for (const file of files) {
    const probe = await probeMedia(file);
    assert.deepEqual(probe.streams.map((s) => s.codec_name), ['hevc']);
    const video = packetsOf(probe, 'video');
    assert.equal(video.length, FPS);
    assert.equal(video[0]!.flags[0], 'K');
  }
  const list = path.join(dir, `${form}.txt`);
  await writeFile(list, files.map((f) => `file '${f}'`).join('\n'));
  const decode = spawnTracked('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-f', 'concat', '-safe', '0', '-i', list, '-f', 'null', '-']);
  assert.equal((await decode.exited).code, 0);
  assert.equal(decode.stderr(), '');
}

describe('HEVC segments', () => {
  it('from legacy FLV codec id 12 decode without errors', () => segmentAndCheck('legacy'));
  it("from Enhanced RTMP 'hvc1' decode without errors", () => segmentAndCheck('enhanced'));

  it('a switch from H.264 to HEVC mid-broadcast starts a new program behind a discontinuity', () => {
    const segments: MuxedSegment[] = [];
    const muxer = new BroadcastMuxer(LIMITS, () => false, (s) => segments.push(s));
    const avcc = Buffer.from([1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 2, 0x67, 0x42, 1, 0, 2, 0x68, 0xce]);
    muxer.push(new MediaPacket(9, 0, Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0]), avcc])));
    for (let t = 0; t < 1500; t += 100) {
      muxer.push(new MediaPacket(9, t, Buffer.concat([Buffer.from([t % 1000 ? 0x27 : 0x17, 1, 0, 0, 0]), lengthPrefixed([Buffer.from([t % 1000 ? 0x41 : 0x65, 1])])])));
    }
    // Mid-GOP and before the target duration: the codec change forces the cut.
    muxer.push(new MediaPacket(9, 1500, enhancedVideoBody('hvc1', 0, true, hvcc())));
    accessUnits.slice(0, FPS).forEach((au, i) => {
      muxer.push(new MediaPacket(9, 1500 + i * (1000 / FPS), enhancedVideoBody('hvc1', 3, au.keyframe, lengthPrefixed(au.nals))));
    });
    muxer.finish();
    assert.deepEqual(segments.map((s) => [s.durationMs, s.discontinuity]), [[1000, false], [500, false], [1000, true]]);
    assert.deepEqual(segments.map((s) => demuxTs(s.body).streams.map((t) => t.streamType)), [[0x1b], [0x1b], [0x24]]);
    assert.ok(segments.every((s) => demuxTs(s.body).errors.length === 0));
  });
});
