import type { ServerResponse } from 'node:http';
import { flvEncoding, flvHeader } from '../flv/flv-encoding.js';
import { ViewerBackpressure } from '../hub/backpressure.js';
import type { LiveStream } from '../hub/live-stream.js';
import type { MediaPacket } from '../hub/media-packet.js';
import type { EgressMeter } from '../hub/egress-meter.js';
import type { StreamSubscriber } from '../hub/subscriber.js';

/** A viewer of `GET /<app>/<stream>.flv`: an endless chunked FLV response. */
export class FlvViewer implements StreamSubscriber {
  readonly protocol = 'flv';
  readonly backpressure: ViewerBackpressure;
  bytesSent = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly stream: LiveStream,
    maxBacklogBytes: number,
    private readonly egress: EgressMeter,
  ) {
    this.backpressure = new ViewerBackpressure(maxBacklogBytes);
    const hasAudio = stream.audioSequenceHeader !== null || stream.metadataInfo.audioCodec !== undefined;
    res.write(flvHeader(hasAudio || !stream.hasVideo, stream.hasVideo || stream.metadataInfo.videoCodec !== undefined));
  }

  send(packet: MediaPacket): void {
    if (this.res.destroyed) return;
    if (!this.backpressure.admit(packet, this.res.writableLength, this.stream.hasVideo)) {
      this.egress.droppedPackets++;
      return;
    }
    const tag = flvEncoding(packet);
    this.bytesSent += tag.length;
    this.egress.add(tag.length);
    this.res.write(tag);
  }

  end(): void {
    this.res.end();
  }
}
