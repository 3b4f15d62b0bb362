/**
 * Publishes the sample FLV over RTMP in real time, looping it with
 * continuously increasing timestamps, so a reader can compute each frame's
 * extra delay as arrival - (startedAt + timestamp).
 */
import type { Duplex } from 'node:stream';
import { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import type { FlvTag } from './flv-reader.js';
import { SAMPLE_FPS } from './sample-media.js';

export interface PublishTarget {
  host: string;
  port: number;
  app: string;
  name: string;
  /** A ready transport (a KCP stream) instead of TCP to host:port. */
  transport?: Duplex;
}

export class PacedPublisher {
  /** Wall-clock ms at which timestamp 0 was due (Date.now() based, shared by every process). */
  startedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private constructor(private readonly client: RtmpClient, private readonly tags: FlvTag[]) {}

  static async start(target: PublishTarget, tags: FlvTag[]): Promise<PacedPublisher> {
    const options = { app: target.app, tcUrl: `rtmp://${target.host}:${target.port}/${target.app}` };
    const client = target.transport
      ? await RtmpClient.connect(target.transport, options)
      : await RtmpClient.connectTcp(target.host, target.port, options);
    await client.publish(target.name);
    const publisher = new PacedPublisher(client, tags);
    publisher.run();
    return publisher;
  }

  get closed(): Promise<string> {
    return new Promise((resolve) => this.client.once('close', resolve));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.client.close('publisher stopped');
  }

  private run(): void {
    // The loop restarts one frame interval after the last video frame, so
    // video timestamps stay evenly spaced across the seam.
    const frames = this.tags.filter((t) => t.type === 9 && !new MediaPacket(t.type, 0, t.body).isSequenceHeader);
    const loopMs = frames.at(-1)!.timestamp - frames[0]!.timestamp + 1000 / SAMPLE_FPS;
    // Decoder configuration and metadata go once; later loops repeat only media.
    const repeated = this.tags.filter((t) => !new MediaPacket(t.type, 0, t.body).isSequenceHeader && t.type !== 18);
    this.startedAt = Date.now();
    let loop = 0;
    let index = 0;
    let current = this.tags;
    const tick = (): void => {
      if (this.stopped) return;
      const now = Date.now();
      while (index < current.length) {
        const tag = current[index]!;
        const timestamp = Math.round(tag.timestamp + loop * loopMs);
        if (this.startedAt + timestamp > now) break;
        this.client.sendPacket(new MediaPacket(tag.type, timestamp, tag.body));
        index++;
      }
      if (index >= current.length) {
        loop++;
        index = 0;
        current = repeated;
      }
      this.timer = setTimeout(tick, 5);
    };
    tick();
  }
}
