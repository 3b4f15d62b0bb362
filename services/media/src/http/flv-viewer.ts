import type { ServerResponse } from 'node:http';
import { flvEncoding, flvHeader } from '../flv/flv-encoding.js';
import type { ViewerBackpressure } from '../hub/backpressure.js';
import type { LiveStream } from '../hub/live-stream.js';
import type { MediaPacket } from '../hub/media-packet.js';
import type { EgressMeter } from '../hub/egress-meter.js';
import type { StreamSubscriber } from '../hub/subscriber.js';
import { ViewerOutput } from '../hub/viewer-output.js';
import type { WriteFlusher } from '../hub/write-batch.js';

/** A viewer of `GET /<app>/<stream>.flv`: an endless chunked FLV response. */
export class FlvViewer implements StreamSubscriber {
  readonly protocol = 'flv';
  private readonly output: ViewerOutput;

  constructor(
    private readonly res: ServerResponse,
    private readonly stream: LiveStream,
    maxBacklogBytes: number,
    egress: EgressMeter,
    flusher?: WriteFlusher,
  ) {
    this.output = new ViewerOutput({
      queuedBytes: () => res.writableLength,
      disconnect: () => res.destroy(), // 'close' removes the subscriber
      cork: () => res.cork(),
      uncork: () => res.uncork(),
      write: (chunk) => res.write(chunk),
    }, flvEncoding, maxBacklogBytes, egress, flusher);
    const hasAudio = stream.audioSequenceHeader !== null || stream.metadataInfo.audioCodec !== undefined;
    res.write(flvHeader(hasAudio || !stream.hasVideo, stream.hasVideo || stream.metadataInfo.videoCodec !== undefined));
  }

  get backpressure(): ViewerBackpressure { return this.output.backpressure; }

  send(packet: MediaPacket): void {
    if (!this.res.destroyed) this.output.send(packet, this.stream.hasVideo);
  }

  end(): void {
    this.output.flush();
    this.res.end();
  }
}
