import type { LiveDeadlineGate } from '../hub/live-deadline.js';
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
 * Encodes packets as RTMP chunks for one (chunk size, message stream id).
 * The result is cached on the packet, so all RTMP and KCP viewers with the
 * same settings (in practice all of them) share one buffer. Made once per
 * viewer or publish, so the per-packet path builds no key string or closure.
 */
export class RtmpChunkEncoding {
  private readonly key: string;

  constructor(private readonly chunkSize: number, readonly streamId: number) {
    this.key = `rtmp:${chunkSize}:${streamId}`;
  }

  of(packet: MediaPacket): Buffer {
    return packet.encodedAs(this.key, this.encode)[0]!;
  }

  private readonly encode = (p: MediaPacket): Buffer[] => [
    encodeChunks(chunkStreamFor(p), p.type === 18 ? MessageType.DataAmf0 : p.type, this.streamId, p.timestamp, p.payload, this.chunkSize),
  ];
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
    readonly deadline?: LiveDeadlineGate,
  ) {
    // The chunk size is fixed once the handshake has announced it.
    const encoding = new RtmpChunkEncoding(connection.outChunkSize, streamId);
    this.output = new ViewerOutput({
      queuedBytes: () => connection.queuedBytes,
      disconnect: (reason) => connection.close(reason),
      cork: () => connection.cork(),
      uncork: () => connection.uncork(),
      write: (chunk) => connection.writeEncoded(chunk),
    }, (packet) => encoding.of(packet), maxBacklogBytes, egress, flusher, deadline);
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
