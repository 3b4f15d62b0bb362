/**
 * Publishes the sample FLV in real time, looping it with continuously
 * increasing timestamps, so a reader can compute each frame's extra delay as
 * arrival - (startedAt + timestamp). `paceTags` is the clock every weak-network
 * sender shares (RTMP to our server, ikcp.c, ffmpeg → SRT); `videoSchedule`
 * says which video frames it sends when, for counting what never arrived.
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

/** The video frames of the looped sample: loop n repeats `frames` shifted by n × loopMs. */
export interface VideoSchedule {
  loopMs: number;
  frames: readonly { timestamp: number; key: boolean }[];
}

const isMediaFrame = (t: FlvTag) => t.type === 9 && !new MediaPacket(t.type, 0, t.body).isSequenceHeader;

/** The loop restarts one frame interval after the last video frame, so video timestamps stay evenly spaced across the seam. */
export function videoSchedule(tags: readonly FlvTag[]): VideoSchedule {
  const frames = tags.filter(isMediaFrame);
  return {
    loopMs: frames.at(-1)!.timestamp - frames[0]!.timestamp + 1000 / SAMPLE_FPS,
    frames: frames.map((t) => ({ timestamp: t.timestamp, key: new MediaPacket(t.type, 0, t.body).isKeyframe })),
  };
}

/** The video frames sent with timestamps in [from, to), in order, as paceTags stamps them. */
export function scheduledFrames(schedule: VideoSchedule, from: number, to: number): { timestamp: number; key: boolean }[] {
  const out: { timestamp: number; key: boolean }[] = [];
  for (let loop = Math.max(0, Math.floor(from / schedule.loopMs) - 1); loop * schedule.loopMs < to; loop++) {
    for (const frame of schedule.frames) {
      const timestamp = Math.round(frame.timestamp + loop * schedule.loopMs);
      if (timestamp >= from && timestamp < to) out.push({ timestamp, key: frame.key });
    }
  }
  return out;
}

export interface Pacer {
  /** Wall-clock ms at which timestamp 0 was due (Date.now() based, shared by every process). */
  readonly startedAt: number;
  stop(): void;
}

/** Hands each tag to `send` when it is due, looping; decoder configuration and metadata go once. */
export function paceTags(tags: readonly FlvTag[], send: (type: number, timestamp: number, body: Buffer) => void): Pacer {
  const { loopMs } = videoSchedule(tags);
  const repeated = tags.filter((t) => !new MediaPacket(t.type, 0, t.body).isSequenceHeader && t.type !== 18);
  const startedAt = Date.now();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let loop = 0;
  let index = 0;
  let current = tags;
  const tick = (): void => {
    if (stopped) return;
    const now = Date.now();
    while (index < current.length) {
      const tag = current[index]!;
      const timestamp = Math.round(tag.timestamp + loop * loopMs);
      if (startedAt + timestamp > now) break;
      send(tag.type, timestamp, tag.body);
      index++;
    }
    if (index >= current.length) {
      loop++;
      index = 0;
      current = repeated;
    }
    timer = setTimeout(tick, 5);
  };
  tick();
  return {
    startedAt,
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

export class PacedPublisher {
  private constructor(private readonly client: RtmpClient, private readonly pacer: Pacer) {}

  /** Wall-clock ms at which timestamp 0 was due. */
  get startedAt(): number {
    return this.pacer.startedAt;
  }

  static async start(target: PublishTarget, tags: FlvTag[]): Promise<PacedPublisher> {
    const options = { app: target.app, tcUrl: `rtmp://${target.host}:${target.port}/${target.app}` };
    const client = target.transport
      ? await RtmpClient.connect(target.transport, options)
      : await RtmpClient.connectTcp(target.host, target.port, options);
    await client.publish(target.name);
    return new PacedPublisher(client, paceTags(tags, (type, timestamp, body) => client.sendPacket(new MediaPacket(type, timestamp, body))));
  }

  get closed(): Promise<string> {
    return new Promise((resolve) => this.client.once('close', resolve));
  }

  stop(): void {
    this.pacer.stop();
    this.client.close('publisher stopped');
  }
}
