import { ViewerBackpressure } from './backpressure.js';
import type { EgressMeter } from './egress-meter.js';
import type { LiveDeadlineGate } from './live-deadline.js';
import type { MediaPacket } from './media-packet.js';
import { ViewerWriteBatch, type BatchSink, type WriteFlusher } from './write-batch.js';

/** The socket side of a viewer: an RTMP connection or an HTTP-FLV response. */
export interface ViewerSocket extends BatchSink {
  /** Bytes written but not yet taken by the kernel. */
  queuedBytes(): number;
  /** Cuts the viewer off (its close handler removes the subscriber). */
  disconnect(reason: string): void;
}

/**
 * What every viewer protocol does with a packet, in one place: cut off a
 * viewer past the hard backlog bound, skip to the next keyframe past the
 * soft one (both counted on the protocol's egress meter), otherwise encode
 * once (shared, cached on the packet) and write through the merged-write batch.
 */
export class ViewerOutput {
  readonly backpressure: ViewerBackpressure;
  private readonly batch: ViewerWriteBatch;

  constructor(
    private readonly socket: ViewerSocket,
    /** The packet's wire form for this viewer; created once per viewer, so the hot path makes no closure. */
    private readonly encode: (packet: MediaPacket) => Buffer,
    maxBacklogBytes: number,
    private readonly egress: EgressMeter,
    flusher?: WriteFlusher,
    /** The live deadline, on send paths that know their queue's age (KCP). */
    private readonly deadline?: LiveDeadlineGate,
  ) {
    this.backpressure = new ViewerBackpressure(maxBacklogBytes);
    this.batch = new ViewerWriteBatch(socket, flusher);
  }

  send(packet: MediaPacket, hasVideo: boolean): void {
    const queued = this.socket.queuedBytes() + this.batch.pendingBytes;
    if (this.backpressure.mustDisconnect(queued)) {
      this.egress.disconnectedViewers++;
      this.socket.disconnect('viewer backlog over the hard bound');
      return;
    }
    if (!this.backpressure.admit(packet, queued, hasVideo)) {
      this.egress.droppedPackets++;
      return;
    }
    const now = this.deadline === undefined ? 0 : performance.now();
    if (this.deadline !== undefined && !this.deadline.admit(packet, queued, hasVideo, now)) {
      this.egress.lateDroppedFrames++;
      return;
    }
    const encoded = this.encode(packet);
    this.egress.add(encoded.length);
    this.batch.write(encoded);
    this.deadline?.record(encoded.length, now);
  }

  /** Sends what the batch holds now (before an end-of-stream status or the end of a response). */
  flush(): void {
    this.batch.flush();
  }
}
