import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseAudioSpecificConfig } from '@bridgecast/media/hls/adts.js';
import { parseAvcc, parseHvcc } from '@bridgecast/media/hls/annexb.js';
import { crc32Mpeg } from '@bridgecast/media/hls/crc32-mpeg.js';
import { AUDIO_PID, msTo90k, STREAM_TYPE, TsMuxer, VIDEO_PID } from '@bridgecast/media/hls/ts-muxer.js';
import { demuxTs, lengthPrefixed, splitAnnexB } from '../helpers/ts-demux.js';

const SPS = Buffer.from([0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80]);
const PPS = Buffer.from([0x68, 0xce, 0x3c, 0x80]);

function avcc(sps = SPS, pps = PPS): Buffer {
  return Buffer.concat([
    Buffer.from([1, sps[1]!, sps[2]!, sps[3]!, 0xff, 0xe1]), u16(sps.length), sps,
    Buffer.from([1]), u16(pps.length), pps,
  ]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}


const AAC_LC_44K_STEREO = Buffer.from([0x12, 0x10]);

function muxer(video = true, audio = true): TsMuxer {
  return new TsMuxer({ video: video ? parseAvcc(avcc()) : null, audio: audio ? parseAudioSpecificConfig(AAC_LC_44K_STEREO) : null });
}

describe('CRC-32/MPEG-2', () => {
  it('matches the check value of the catalogue', () => {
    assert.equal(crc32Mpeg(Buffer.from('123456789')), 0x0376e6e7);
  });
});

describe('decoder configuration parsing', () => {
  it('reads SPS/PPS and the length size from an avcC record', () => {
    const config = parseAvcc(avcc());
    assert.deepEqual(config?.parameterSets, [SPS, PPS]);
    assert.equal(config?.lengthSize, 4);
    assert.equal(parseAvcc(avcc().subarray(0, 9)), null);
  });

  it('orders VPS, SPS, PPS from an hvcC record whatever order the arrays come in', () => {
    const nal = (type: number) => Buffer.from([type << 1, 1, 0xaa]);
    const array = (type: number) => Buffer.concat([Buffer.from([0x80 | type]), u16(1), u16(3), nal(type)]);
    const header = Buffer.alloc(23);
    header[0] = 1;
    header[21] = 0x0f; // lengthSizeMinusOne 3
    header[22] = 3;
    const config = parseHvcc(Buffer.concat([header, array(34), array(32), array(33)]));
    assert.deepEqual(config?.parameterSets.map((p) => p[0]! >> 1), [32, 33, 34]);
    assert.equal(config?.lengthSize, 4);
  });

  it('turns an AudioSpecificConfig into ADTS fields, including explicit SBR signalling', () => {
    assert.deepEqual(parseAudioSpecificConfig(AAC_LC_44K_STEREO), { objectType: 2, sampleRateIndex: 4, channelConfig: 2, sampleRate: 44100 });
    // HE-AAC explicit: object type 5, 24 kHz core, mono, extension 48 kHz, core object type 2.
    assert.deepEqual(parseAudioSpecificConfig(Buffer.from([0x2b, 0x09, 0x88, 0x00])), { objectType: 2, sampleRateIndex: 6, channelConfig: 1, sampleRate: 24000 });
    assert.equal(parseAudioSpecificConfig(Buffer.from([0x12])), null);
  });
});

describe('TsMuxer packet structure', () => {
  it('writes PAT/PMT with valid CRCs, a PCR on video keyframes, SPS/PPS/AUD before the IDR and stuffing to 188 bytes', () => {
    const m = muxer();
    m.writeTables();
    const idr = Buffer.from([0x65, 0x88, 0x84, 0x21]);
    assert.ok(m.writeVideo(0, 66, true, lengthPrefixed([Buffer.from([0x09, 0xf0]), idr])));
    assert.ok(m.writeAudio(10, Buffer.alloc(300, 0x11)));
    assert.ok(m.writeVideo(33, 0, false, lengthPrefixed([Buffer.from([0x41, 0x9a, 0x02])])));
    const out = m.takeOutput();
    const demuxed = demuxTs(out);
    assert.deepEqual(demuxed.errors, []);
    assert.equal(out.length % 188, 0);
    assert.equal(demuxed.patCount, 1);
    assert.equal(demuxed.pcrPid, VIDEO_PID);
    assert.deepEqual(demuxed.streams, [{ pid: VIDEO_PID, streamType: STREAM_TYPE.h264 }, { pid: AUDIO_PID, streamType: STREAM_TYPE.aac }]);
    const [key, audio, inter] = demuxed.frames;
    assert.deepEqual(splitAnnexB(key!.data).map((n) => n[0]! & 0x1f), [9, 7, 8, 5], 'one AUD (the publisher\'s is replaced), SPS, PPS, IDR');
    assert.equal(key!.randomAccess, true);
    assert.equal(key!.dts, msTo90k(0));
    assert.equal(key!.pts, msTo90k(66));
    assert.deepEqual(splitAnnexB(inter!.data).map((n) => n[0]! & 0x1f), [9, 1], 'no parameter sets before an inter frame');
    assert.equal(inter!.pts, inter!.dts);
    assert.equal(audio!.data.length, 307);
    assert.equal(audio!.data.readUInt16BE(0) & 0xfff6, 0xfff0, 'ADTS sync word, MPEG-4, layer 0');
    assert.equal(((audio!.data[3]! & 3) << 11) | (audio!.data[4]! << 3) | (audio!.data[5]! >> 5), 307, 'ADTS frame length');
    assert.equal(demuxed.pcrs.length, 2, 'PCR on each video PES');
    assert.ok(demuxed.pcrs.every((p, i) => p.base <= demuxed.frames.filter((f) => f.pid === VIDEO_PID)[i]!.dts));
  });

  it("keeps parameter sets a keyframe carries in band instead of adding the configuration record's", () => {
    const m = muxer(true, false);
    m.writeTables();
    const newerSps = Buffer.from([0x67, 0x64, 0x00, 0x28]);
    const idr = Buffer.from([0x65, 0x88, 0x84]);
    assert.ok(m.writeVideo(0, 0, true, lengthPrefixed([newerSps, PPS, idr])));
    const [frame] = demuxTs(m.takeOutput()).frames;
    assert.deepEqual(splitAnnexB(frame!.data), [Buffer.from([0x09, 0xf0]), newerSps, PPS, idr]);
  });

  it('puts the PCR on the audio PID of an audio-only program and carries continuity across segments', () => {
    const m = muxer(false, true);
    let last = -1;
    for (let segment = 0; segment < 3; segment++) {
      m.writeTables();
      for (let i = 0; i < 20; i++) m.writeAudio(segment * 460 + i * 23, Buffer.alloc(200 + i, i));
      const demuxed = demuxTs(m.takeOutput());
      assert.deepEqual(demuxed.errors, []);
      assert.equal(demuxed.pcrPid, AUDIO_PID);
      assert.equal(demuxed.pcrs.length, 20);
      assert.ok(demuxed.frames.every((f) => f.randomAccess));
      assert.ok(demuxed.frames[0]!.pts > last);
      last = demuxed.frames.at(-1)!.pts;
    }
  });

  it('keeps the PCR within 100 ms below 10 fps, with adaptation-only packets between video frames', () => {
    const m = muxer(true, true);
    m.writeTables();
    const idr = lengthPrefixed([Buffer.from([0x65, 1, 2, 3])]);
    for (let t = 0; t < 2000; t += 23) {
      if (t % 200 < 23) m.writeVideo(t - (t % 200), 0, true, idr); // 5 fps
      m.writeAudio(t, Buffer.alloc(100, 1));
    }
    const demuxed = demuxTs(m.takeOutput());
    assert.deepEqual(demuxed.errors, []);
    assert.equal(demuxed.pcrPid, VIDEO_PID);
    const pcrs = demuxed.pcrs.filter((p) => p.pid === VIDEO_PID).map((p) => p.base);
    assert.ok(pcrs.length > 20, `${pcrs.length} PCRs`);
    const gaps = pcrs.slice(1).map((pcr, i) => (pcr - pcrs[i]!) / 90);
    assert.ok(gaps.every((g) => g > 0 && g <= 100), `PCR gaps ${Math.max(...gaps)} ms`);
  });

  it('refuses frames of a track the program does not have, and malformed AVCC', () => {
    const m = muxer(true, false);
    assert.equal(m.writeAudio(0, Buffer.alloc(10)), false);
    assert.equal(m.writeVideo(0, 0, true, Buffer.from([0, 0, 0, 9, 0x65])), false);
    assert.equal(m.pendingBytes, 0);
  });
});

/** A NAL unit without zero bytes, so start-code splitting recovers it exactly. */
const nalArb = (type: number) => fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((bytes) =>
  Buffer.concat([Buffer.from([type]), Buffer.from(bytes.map((b) => b || 1))]));

const frameArb = fc.oneof(
  fc.record({ kind: fc.constant('video' as const), keyframe: fc.boolean(), cts: fc.integer({ min: 0, max: 200 }), step: fc.integer({ min: 0, max: 100 }),
    nals: fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }) }).chain((f) =>
    fc.tuple(...f.nals.map(() => nalArb(f.keyframe ? 0x65 : 0x41))).map((nals) => ({ ...f, nals }))),
  fc.record({ kind: fc.constant('audio' as const), step: fc.integer({ min: 0, max: 100 }), bytes: fc.integer({ min: 1, max: 2000 }) }),
);

describe('TsMuxer round trip (property)', () => {
  it('a strict demuxer gets back every frame with its timestamps and payload', () => {
    fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 40 }), (frames) => {
      const m = muxer();
      m.writeTables();
      let dts = 0;
      const expected: Array<{ pid: number; pts: number; dts: number; nals?: Buffer[]; audio?: Buffer }> = [];
      for (const f of frames) {
        dts += f.step;
        if (f.kind === 'video') {
          assert.ok(m.writeVideo(dts, f.cts, f.keyframe, lengthPrefixed(f.nals)));
          expected.push({ pid: VIDEO_PID, pts: msTo90k(dts + f.cts), dts: msTo90k(dts), nals: f.nals });
        } else {
          const audio = Buffer.alloc(f.bytes, f.bytes & 0xff);
          assert.ok(m.writeAudio(dts, audio));
          expected.push({ pid: AUDIO_PID, pts: msTo90k(dts), dts: msTo90k(dts), audio });
        }
      }
      const demuxed = demuxTs(m.takeOutput());
      assert.deepEqual(demuxed.errors, []);
      // The demuxer completes a PES when the next one on its PID starts, so compare per PID.
      const byPid = (pid: number) => [demuxed.frames.filter((f) => f.pid === pid), expected.filter((e) => e.pid === pid)] as const;
      const pairs = [byPid(VIDEO_PID), byPid(AUDIO_PID)].flatMap(([got, want]) => {
        assert.equal(got.length, want.length);
        return got.map((frame, i) => [frame, want[i]!] as const);
      });
      for (const [frame, want] of pairs) {
        assert.equal(frame.pid, want.pid);
        assert.equal(frame.pts, want.pts);
        assert.equal(frame.dts, want.dts);
        if (want.nals) {
          const nals = splitAnnexB(frame.data);
          const keyframe = want.nals[0]![0] === 0x65;
          assert.deepEqual(nals.slice(0, keyframe ? 3 : 1).map((n) => n[0]! & 0x1f), keyframe ? [9, 7, 8] : [9]);
          assert.deepEqual(nals.slice(keyframe ? 3 : 1), want.nals);
        } else {
          assert.deepEqual(frame.data.subarray(7), want.audio);
        }
      }
    }), { numRuns: 200 });
  });
});
