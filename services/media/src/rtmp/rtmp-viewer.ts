import { ViewerBackpressure } from '../hub/backpressure.js';
import type { MediaPacket } from '../hub/media-packet.js';
import type { EgressMeter } from '../hub/egress-meter.js';
import type { StreamSubscriber } from '../hub/subscriber.js';
import { ViewerWriteBatch, type WriteFlusher } from '../hub/write-batch.js';
import { encodeChunks } from './chunk-writer.js';
import type { RtmpConnection } from './connection.js';
import { ChunkStreamId, MessageType } from './messages.js';

function chunkStreamFor(packet: MediaPacket): number {
  if (packet.isVideo) return ChunkStreamId.Video;
  if (packet.isAudio) return ChunkStreamId.Audio;
  return ChunkStreamId.Data;
}

/**
 * Encodes a packet as RTMP chunks for (chunk size, message stream id). The
 * result is cached on the packet, so all RTMP and KCP viewers with the same
 * settings — in practice all of them — share one buffer.
 */
export function rtmpEncoding(packet: MediaPacket, chunkSize: number, streamId: number): Buffer {
  return packet.encodedAs(`rtmp:${chunkSize}:${streamId}`, (p) => [
    encodeChunks(chunkStreamFor(p), p.type === 18 ? MessageType.DataAmf0 : p.type, streamId, p.timestamp, p.payload, chunkSize),
  ])[0]!;
}

/** A viewer playing over RTMP (on TCP or KCP). */
export class RtmpViewer implements StreamSubscriber {
  readonly backpressure: ViewerBackpressure;
  private readonly batch: ViewerWriteBatch;
  bytesSent = 0;

  constructor(
    readonly protocol: string,
    private readonly connection: RtmpConnection,
    private readonly streamId: number,
    maxBacklogBytes: number,
    private readonly hasVideo: () => boolean,
    private readonly onEnd: (reason: string) => void,
    private readonly egress: EgressMeter,
    flusher?: WriteFlusher,
  ) {
    this.backpressure = new ViewerBackpressure(maxBacklogBytes);
    this.batch = new ViewerWriteBatch({
      cork: () => connection.cork(),
      uncork: () => connection.uncork(),
      write: (chunk) => connection.writeEncoded(chunk),
    }, flusher);
  }

  send(packet: MediaPacket): void {
    if (this.connection.isClosed) return;
    const queued = this.connection.queuedBytes + this.batch.pendingBytes;
    if (this.backpressure.mustDisconnect(queued)) {
      this.egress.disconnectedViewers++;
      this.connection.close('viewer backlog over the hard bound');
      return;
    }
    if (!this.backpressure.admit(packet, queued, this.hasVideo())) {
      this.egress.droppedPackets++;
      return;
    }
    const encoded = rtmpEncoding(packet, this.connection.outChunkSize, this.streamId);
    this.bytesSent += encoded.length;
    this.egress.add(encoded.length);
    this.batch.write(encoded);
  }

  end(reason: string): void {
    this.batch.flush(); // media already sent goes out before the end-of-stream status
    this.onEnd(reason);
  }
}
