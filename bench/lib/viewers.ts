/**
 * Benchmark viewers: they play a stream over RTMP or HTTP-FLV, and record the
 * time to the first video frame, the video frames received and the frames
 * missing (gaps in the video timestamps of a constant-frame-rate source).
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { RtmpClient } from '@bridgecast/media/rtmp/client.js';
import { FlvReader } from './flv-reader.js';
import { SAMPLE_FPS } from './sample-media.js';

export type ViewerProtocol = 'rtmp' | 'flv';

export interface FrameArrival {
  timestamp: number;
  arrivedAt: number;
  bytes: number;
}

/** Counts what a viewer received; pure bookkeeping, fed with packets. */
export class FrameTracker {
  readonly startedAt = Date.now();
  firstFrameAt = 0;
  videoFrames = 0;
  droppedFrames = 0;
  payloadBytes = 0;
  private lastVideoTimestamp = -1;
  private readonly frameMs = 1000 / SAMPLE_FPS;

  constructor(private readonly onFrame?: (frame: FrameArrival) => void) {}

  get firstFrameMs(): number | null {
    return this.firstFrameAt ? this.firstFrameAt - this.startedAt : null;
  }

  add(packet: MediaPacket): void {
    this.payloadBytes += packet.payload.length;
    if (!packet.isVideo || packet.isSequenceHeader) return;
    const now = Date.now();
    if (!this.firstFrameAt) this.firstFrameAt = now;
    this.videoFrames++;
    if (this.lastVideoTimestamp >= 0) {
      const gap = packet.timestamp - this.lastVideoTimestamp;
      if (gap > this.frameMs * 1.5) this.droppedFrames += Math.round(gap / this.frameMs) - 1;
    }
    this.lastVideoTimestamp = packet.timestamp;
    this.onFrame?.({ timestamp: packet.timestamp, arrivedAt: now, bytes: packet.payload.length });
  }
}

export interface Viewer {
  readonly protocol: ViewerProtocol;
  readonly tracker: FrameTracker;
  /** Settles with the reason when the connection ends (closed by either side). */
  readonly closed: Promise<string>;
  close(): void;
}

export interface ViewerTarget {
  host: string;
  rtmpPort: number;
  httpPort?: number;
  app: string;
  name: string;
  /** A ready transport (a KCP stream) to run the RTMP viewer over instead of TCP. */
  transport?: Duplex;
}

export async function startViewer(protocol: ViewerProtocol, target: ViewerTarget, onFrame?: (f: FrameArrival) => void): Promise<Viewer> {
  const tracker = new FrameTracker(onFrame);
  return protocol === 'rtmp' ? startRtmpViewer(target, tracker) : startFlvViewer(target, tracker);
}

async function startRtmpViewer(target: ViewerTarget, tracker: FrameTracker): Promise<Viewer> {
  const options = { app: target.app, tcUrl: `rtmp://${target.host}:${target.rtmpPort}/${target.app}` };
  const client = target.transport
    ? await RtmpClient.connect(target.transport, options)
    : await RtmpClient.connectTcp(target.host, target.rtmpPort, options);
  client.on('packet', (p) => tracker.add(p));
  const closed = new Promise<string>((resolve) => client.once('close', () => resolve('RTMP connection closed')));
  await client.play(target.name);
  return { protocol: 'rtmp', tracker, closed, close: () => client.close('viewer left') };
}

function startFlvViewer(target: ViewerTarget, tracker: FrameTracker): Promise<Viewer> {
  if (!target.httpPort) throw new Error('this server has no HTTP-FLV port');
  return new Promise((resolve, reject) => {
    const request = http.get({ host: target.host, port: target.httpPort, path: `/${target.app}/${target.name}.flv`, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`HTTP-FLV answered ${res.statusCode}`));
        return;
      }
      const reader = new FlvReader((tag) => tracker.add(new MediaPacket(tag.type, tag.timestamp, tag.body)));
      res.on('data', (chunk: Buffer) => reader.push(chunk));
      res.on('error', () => undefined);
      const closed = new Promise<string>((done) => res.once('close', () => done(res.complete ? 'HTTP-FLV response ended' : 'HTTP-FLV connection lost')));
      resolve({ protocol: 'flv', tracker, closed, close: () => request.destroy() });
    });
    request.on('error', reject);
  });
}
