import type { ServerResponse } from 'node:http';
import { flvEncoding, flvHeader } from '../flv/flv-encoding.js';
import { ViewerBackpressure } from '../hub/backpressure.js';
import type { LiveStream } from '../hub/live-stream.js';
import type { MediaPacket } from '../hub/media-packet.js';
import type { EgressMeter } from '../hub/egress-meter.js';
import type { StreamSubscriber } from '../hub/subscriber.js';
import { ViewerWriteBatch, type WriteFlusher } from '../hub/write-batch.js';

/** A viewer of `GET /<app>/<stream>.flv`: an endless chunked FLV response. */
export class FlvViewer implements StreamSubscriber {
  readonly protocol = 'flv';
  readonly backpressure: ViewerBackpressure;
  private readonly batch: ViewerWriteBatch;
  bytesSent = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly stream: LiveStream,
    maxBacklogBytes: number,
    private readonly egress: EgressMeter,
    flusher?: WriteFlusher,
  ) {
    this.backpressure = new ViewerBackpressure(maxBacklogBytes);
    this.batch = new ViewerWriteBatch({ cork: () => res.cork(), uncork: () => res.uncork(), write: (chunk) => res.write(chunk) }, flusher);
    const hasAudio = stream.audioSequenceHeader !== null || stream.metadataInfo.audioCodec !== undefined;
    res.write(flvHeader(hasAudio || !stream.hasVideo, stream.hasVideo || stream.metadataInfo.videoCodec !== undefined));
  }

  send(packet: MediaPacket): void {
    if (this.res.destroyed) return;
    const queued = this.res.writableLength + this.batch.pendingBytes;
    if (this.backpressure.mustDisconnect(queued)) {
      this.egress.disconnectedViewers++;
      this.res.destroy(); // 'close' removes the subscriber
      return;
    }
    if (!this.backpressure.admit(packet, queued, this.stream.hasVideo)) {
      this.egress.droppedPackets++;
      return;
    }
    const tag = flvEncoding(packet);
    this.bytesSent += tag.length;
    this.egress.add(tag.length);
    this.batch.write(tag);
  }

  end(): void {
    this.batch.flush();
    this.res.end();
  }
}
