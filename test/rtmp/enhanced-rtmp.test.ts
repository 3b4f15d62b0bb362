/**
 * Enhanced RTMP (FourCC video): ffmpeg 5.1 cannot publish HEVC or AV1 over
 * RTMP, so the test builds the messages itself from real encodes — libx265
 * and SVT-AV1 into MP4, whose decoder configuration record (hvcC / av1C)
 * and length-prefixed NAL units / OBUs are exactly what Enhanced RTMP
 * carries — publishes them with our RTMP client and checks that HTTP-FLV
 * relays every tag byte for byte and that /api/live names the codec.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import { killAllChildren, parseHexDump, probeMedia, runFfmpeg } from '../helpers/ffmpeg.js';
import { openFlvStream, parseFlv } from '../helpers/flv.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/media-server.js';
import { enhancedVideoBody } from '../helpers/synthetic-media.js';

let server: TestServer;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ertmp-'));
  server = await startTestServer();
});

after(async () => {
  await killAllChildren();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

interface Codec {
  fourcc: string;
  name: 'hevc' | 'av1';
  encoder: string[];
  /** HEVC frames carry a composition time offset; AV1 has none (no reordering in the bitstream). */
  hasCts: boolean;
}

const CODECS: Codec[] = [
  { fourcc: 'hvc1', name: 'hevc', encoder: ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error:keyint=15:bframes=2', '-tag:v', 'hvc1'], hasCts: true },
  { fourcc: 'av01', name: 'av1', encoder: ['-c:v', 'libsvtav1', '-preset', '12', '-g', '15'], hasCts: false },
];

/** The video messages of an encode as Enhanced RTMP tag bodies with millisecond timestamps. */
async function enhancedRtmpMessages(codec: Codec): Promise<MediaPacket[]> {
  const file = path.join(dir, `${codec.name}.mp4`);
  await runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=192x108:rate=30:duration=1', ...codec.encoder, '-pix_fmt', 'yuv420p', file]);
  const probe = await probeMedia(file, { showData: true });
  const stream = probe.streams[0]!;
  assert.equal(stream.codec_name, codec.name);
  const [num, den] = stream.time_base.split('/').map(Number) as [number, number];
  const ms = (t: number) => Math.round((t * num * 1000) / den);
  const firstDts = probe.packets[0]!.dts!;
  const messages = [new MediaPacket(9, 0, enhancedVideoBody(codec.fourcc, 0, true, parseHexDump(stream.extradata!)))];
  for (const p of probe.packets) {
    const cts = codec.hasCts ? ms(p.pts! - p.dts!) : undefined;
    messages.push(new MediaPacket(9, ms(p.dts! - firstDts), enhancedVideoBody(codec.fourcc, 1, p.flags.startsWith('K'), parseHexDump(p.data!), cts)));
  }
  return messages;
}

for (const codec of CODECS) {
  test(`${codec.name} over Enhanced RTMP (${codec.fourcc}) is relayed to HTTP-FLV byte for byte`, async () => {
    const messages = await enhancedRtmpMessages(codec);
    assert.ok(messages.length > 20);
    assert.equal(messages[1]!.video?.codec, codec.name);
    if (codec.hasCts) assert.ok(messages.some((m) => (m.video?.cts ?? 0) > 0), 'the encode has reordered frames');

    const name = `ertmp-${codec.name}`;
    const publisher = await RtmpClient.connectTcp('127.0.0.1', server.rtmpPort, { app: 'live' });
    await publisher.publish(name);
    publisher.sendPacket(messages[0]!);
    await waitFor(() => server.hub.get('live', name)?.hasVideo, 3000, 'the sequence header');
    const flv = await openFlvStream(server.flvUrl(name));
    assert.equal(flv.status, 200);
    for (const m of messages.slice(1)) publisher.sendPacket(m);
    await waitFor(() => (server.hub.get('live', name)?.packetsIn ?? 0) === messages.length, 5000, 'all packets at the server');

    const api = await (await fetch(`${server.httpBase}/api/live`)).json() as { streams: { name: string; video: { codec: string } | null }[] };
    assert.equal(api.streams.find((s) => s.name === name)?.video?.codec, codec.name);

    publisher.close();
    const { hasVideo, tags } = parseFlv(await flv.body);
    assert.ok(hasVideo, 'the FLV header announces video');
    const video = tags.filter((t) => t.type === 9);
    assert.equal(video.length, messages.length);
    video.forEach((tag, i) => {
      assert.equal(tag.timestamp, messages[i]!.timestamp, `tag ${i} timestamp`);
      assert.ok(tag.body.equals(messages[i]!.payload), `tag ${i} differs from what was published`);
    });
  });
}
