import type { ViewerBackpressure } from '../hub/backpressure.js';
import type { MediaPacket } from '../hub/media-packet.js';
import type { EgressMeter } from '../hub/egress-meter.js';
import type { StreamSubscriber } from '../hub/subscriber.js';
import { ViewerOutput } from '../hub/viewer-output.js';
import type { WriteFlusher } from '../hub/write-batch.js';
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
  private readonly output: ViewerOutput;

  constructor(
    readonly protocol: string,
    private readonly connection: RtmpConnection,
    streamId: number,
    maxBacklogBytes: number,
    private readonly hasVideo: () => boolean,
    private readonly onEnd: (reason: string) => void,
    egress: EgressMeter,
    flusher?: WriteFlusher,
  ) {
    this.output = new ViewerOutput({
      queuedBytes: () => connection.queuedBytes,
      disconnect: (reason) => connection.close(reason),
      cork: () => connection.cork(),
      uncork: () => connection.uncork(),
      write: (chunk) => connection.writeEncoded(chunk),
    }, (packet) => rtmpEncoding(packet, connection.outChunkSize, streamId), maxBacklogBytes, egress, flusher);
  }

  get backpressure(): ViewerBackpressure { return this.output.backpressure; }

  send(packet: MediaPacket): void {
    if (!this.connection.isClosed) this.output.send(packet, this.hasVideo());
  }

  end(reason: string): void {
    this.output.flush(); // media already sent goes out before the end-of-stream status
    this.onEnd(reason);
  }
}
