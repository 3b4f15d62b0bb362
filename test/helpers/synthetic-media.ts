/**
 * Synthetic FLV/RTMP media for tests and benchmarks that need exact control
 * of packet sizes and rates (backpressure, malformed-input neighbours, hub
 * unit tests) rather than a decodable picture. The tag bodies have valid
 * FLV headers (AVC / AAC / Enhanced RTMP), so the server classifies them as
 * a real encoder's would; the codec data itself is filler.
 */
import { encodeAmf0, encodeAmf0EcmaArray } from '@bridgecast/media/amf/amf0.js';
import type { AmfObject } from '@bridgecast/media/amf/amf-value.js';
import { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { RtmpClient } from '@bridgecast/media/rtmp/client.js';

export type VideoKind = 'header' | 'key' | 'inter';

/** An AVC video packet: sequence header, keyframe or inter frame, with `size` bytes of data. */
export function avcPacket(kind: VideoKind, timestamp: number, size = 16, cts = 0): MediaPacket {
  const body = Buffer.alloc(5 + size, 0x5a);
  body[0] = ((kind === 'inter' ? 2 : 1) << 4) | 7;
  body[1] = kind === 'header' ? 0 : 1;
  body.writeIntBE(cts, 2, 3);
  return new MediaPacket(9, timestamp, body);
}

/** An AAC audio packet: AudioSpecificConfig (`header`) or a raw frame. */
export function aacPacket(kind: 'header' | 'frame', timestamp: number, size = 8): MediaPacket {
  const body = Buffer.alloc(2 + size, 0x21);
  body[0] = 0xaf; // AAC, 44 kHz, 16-bit, stereo
  body[1] = kind === 'header' ? 0 : 1;
  return new MediaPacket(8, timestamp, body);
}

/** An onMetaData script packet as viewers receive it. */
export function metadataPacket(meta: AmfObject): MediaPacket {
  return new MediaPacket(18, 0, Buffer.concat([encodeAmf0('onMetaData'), encodeAmf0EcmaArray(meta)]));
}

/** An Enhanced RTMP (FourCC) video packet body: `[1|frameType|packetType] fourcc [cts] data`. */
export function enhancedVideoBody(fourcc: string, packetType: number, keyframe: boolean, data: Buffer, cts?: number): Buffer {
  const head = Buffer.alloc(5 + (cts === undefined ? 0 : 3));
  head[0] = 0x80 | ((keyframe ? 1 : 2) << 4) | packetType;
  head.write(fourcc, 1, 'latin1');
  if (cts !== undefined) head.writeIntBE(cts, 5, 3);
  return Buffer.concat([head, data]);
}

export interface SyntheticStreamOptions {
  /** Video frames per second. */
  fps: number;
  /** Frames per GOP (a keyframe every `gop` frames). */
  gop: number;
  /** Bytes of every video frame (keyframes are `keyframeScale` times larger). */
  frameBytes: number;
  keyframeScale?: number;
}

/**
 * The packets of a synthetic H.264 + AAC stream, in publish order: sequence
 * headers first, then per video frame the frame and the audio that belongs
 * with it. Infinite; take what you need.
 */
export function* syntheticStream(options: SyntheticStreamOptions): Generator<MediaPacket> {
  yield avcPacket('header', 0);
  yield aacPacket('header', 0);
  const frameMs = 1000 / options.fps;
  for (let i = 0; ; i++) {
    const ts = Math.round(i * frameMs);
    const key = i % options.gop === 0;
    yield avcPacket(key ? 'key' : 'inter', ts, key ? options.frameBytes * (options.keyframeScale ?? 4) : options.frameBytes);
    yield aacPacket('frame', ts, 200);
  }
}

/**
 * Publishes a synthetic stream to an RTMP server at (about) real time:
 * `fps` frames a second, written when the publisher's own socket has room.
 * `stop()` ends the publish and closes the connection.
 */
export class SyntheticPublisher {
  packetsSent = 0;
  videoFramesSent = 0;
  /** Payload bytes sent. */
  bytesSent = 0;
  private timer: NodeJS.Timeout | null = null;

  private constructor(readonly client: RtmpClient, private readonly packets: Generator<MediaPacket>) {}

  static async start(port: number, name: string, options: SyntheticStreamOptions, app = 'live'): Promise<SyntheticPublisher> {
    const client = await RtmpClient.connectTcp('127.0.0.1', port, { app, timeoutMs: 5000 });
    await client.publish(name);
    const publisher = new SyntheticPublisher(client, syntheticStream(options));
    publisher.send(2); // sequence headers
    publisher.timer = setInterval(() => publisher.tick(), 1000 / options.fps);
    return publisher;
  }

  private tick(): void {
    if (this.client.queuedBytes > 1024 * 1024) return; // let the socket drain rather than queue without bound
    this.send(2);
  }

  private send(count: number): void {
    for (let i = 0; i < count; i++) {
      const packet = this.packets.next().value as MediaPacket;
      this.client.sendPacket(packet);
      this.packetsSent++;
      this.bytesSent += packet.payload.length;
      if (packet.isVideo && !packet.isSequenceHeader) this.videoFramesSent++;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.client.close('publisher stopped');
  }
}
