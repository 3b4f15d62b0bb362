/**
 * The media core end to end with real ffmpeg: an H.264 (B-frames, 2 s GOP) +
 * AAC stream generated with lavfi is published over RTMP and read back over
 * RTMP and HTTP-FLV with ffprobe. The readbacks are compared packet by
 * packet with the publisher's own FLV (the same encode written to a file and
 * published from it), so codecs, counts, timestamps and composition time
 * offsets are all checked against what was actually sent.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  DEFAULT_SIGNAL, encodeFile, gopFrames, killAllChildren, packetsOf, probeMedia, startPublisher,
  type ProbePacket, type ProbeResult,
} from '../helpers/ffmpeg.js';
import { sleep, startTestServer, waitFor, type TestServer } from '../helpers/media-server.js';

const SECONDS = 6;
let server: TestServer;
let dir: string;
let referenceFile: string;
let reference: ProbeResult;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'roundtrip-'));
  referenceFile = path.join(dir, 'published.flv');
  [server] = await Promise.all([startTestServer(), encodeFile(referenceFile, SECONDS)]);
  reference = await probeMedia(referenceFile);
});

after(async () => {
  await killAllChildren();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Sample { dts: number; cts: number; key: boolean }

function samples(packets: ProbePacket[]): Sample[] {
  return packets.map((p) => ({ dts: p.dts!, cts: p.pts! - p.dts!, key: p.flags.startsWith('K') }));
}

/**
 * The readback must be an unbroken run of the published packets: same DTS,
 * same composition offset, same keyframe flags, nothing missing or
 * reordered in between, ending with the last packet sent.
 */
function assertContiguousRun(sent: Sample[], got: Sample[], what: string): void {
  assert.ok(got.length > 0, `${what}: no packets read back`);
  const start = sent.findIndex((s) => s.dts === got[0]!.dts);
  assert.ok(start >= 0, `${what}: first DTS ${got[0]!.dts} is not a published DTS`);
  assert.deepEqual(got, sent.slice(start, start + got.length), `${what}: packets differ from those published`);
  assert.equal(start + got.length, sent.length, `${what}: the end of the stream is missing`);
}

function assertMonotonic(packets: ProbePacket[], what: string): void {
  for (let i = 1; i < packets.length; i++) {
    assert.ok(packets[i]!.dts! > packets[i - 1]!.dts!, `${what}: DTS not increasing at packet ${i} (${packets[i - 1]!.dts} → ${packets[i]!.dts})`);
  }
}

function assertFaithfulCopy(got: ProbeResult, what: string): void {
  // Only audio and video: over RTMP ffmpeg also lists the server's onStatus data message as a data stream.
  const streamSummary = (r: ProbeResult) => r.streams
    .filter((s) => s.codec_type === 'audio' || s.codec_type === 'video')
    .map((s) => ({ type: s.codec_type, codec: s.codec_name, profile: s.profile, width: s.width, height: s.height, rate: s.sample_rate, channels: s.channels }))
    .sort((a, b) => a.type.localeCompare(b.type));
  assert.deepEqual(streamSummary(got), streamSummary(reference), `${what}: streams differ`);

  const sentVideo = packetsOf(reference, 'video');
  const gotVideo = packetsOf(got, 'video');
  const sentAudio = packetsOf(reference, 'audio');
  const gotAudio = packetsOf(got, 'audio');
  // Joining mid-stream starts at the cached GOP: at most one GOP is missing.
  assert.ok(gotVideo.length >= sentVideo.length - gopFrames(DEFAULT_SIGNAL), `${what}: ${gotVideo.length} of ${sentVideo.length} video frames`);
  const audioPerGop = Math.ceil((DEFAULT_SIGNAL.gopSeconds * 44100) / 1024) + 1;
  assert.ok(gotAudio.length >= sentAudio.length - audioPerGop, `${what}: ${gotAudio.length} of ${sentAudio.length} audio frames`);
  assert.ok(gotVideo[0]!.flags.startsWith('K'), `${what}: the first video packet is not a keyframe`);

  assertMonotonic(gotVideo, `${what} video`);
  assertMonotonic(gotAudio, `${what} audio`);
  const video = samples(gotVideo);
  assert.ok(video.some((s) => s.cts !== 0), `${what}: no composition offsets (B-frames lost)`);
  assert.deepEqual(new Set(video.map((s) => s.cts)), new Set(samples(sentVideo).filter((s) => s.dts >= video[0]!.dts).map((s) => s.cts)));
  assertContiguousRun(samples(sentVideo), video, `${what} video`);
  assertContiguousRun(samples(sentAudio), samples(gotAudio), `${what} audio`);
}

test('the reference encode has B-frames and a 2 s GOP', () => {
  const video = samples(packetsOf(reference, 'video'));
  assert.equal(video.length, SECONDS * DEFAULT_SIGNAL.fps);
  assert.ok(video.some((s) => s.cts > 0));
  assert.deepEqual(video.flatMap((s, i) => (s.key ? [i] : [])), [0, 60, 120]);
});

test('an RTMP publish reads back intact over RTMP (viewer waiting before publish) and HTTP-FLV (joining mid-GOP)', async () => {
  const name = 'roundtrip';
  const rtmpReadback = probeMedia(server.rtmpUrl(name), { timeoutMs: 40_000 });
  // ffprobe's play arrives before the publisher: the hub parks it until publish.
  await waitFor(() => server.hub.waitingFor('live', name) === 1, 10_000, 'the RTMP reader to wait for the stream');
  const publisher = startPublisher(server.rtmpUrl(name), { file: referenceFile });
  // Join in the middle of the second GOP: the cache must supply its keyframe.
  await waitFor(() => (server.hub.get('live', name)?.gop.contents[0]?.timestamp ?? 0) > 0, 10_000, 'the second GOP');
  await sleep(500);
  const flvReadback = probeMedia(server.flvUrl(name), { timeoutMs: 40_000 });

  const [rtmp, flv, published] = await Promise.all([rtmpReadback, flvReadback, publisher.exited]);
  assert.equal(published.code, 0, `publisher failed: ${publisher.stderr()}`);
  assertFaithfulCopy(rtmp, 'RTMP');
  // A viewer waiting before the publish misses nothing.
  assert.equal(packetsOf(rtmp, 'video').length, packetsOf(reference, 'video').length);
  assertFaithfulCopy(flv, 'HTTP-FLV');
  assert.ok(packetsOf(flv, 'video')[0]!.dts! > 0, 'the HTTP-FLV reader should have joined mid-stream');
});
