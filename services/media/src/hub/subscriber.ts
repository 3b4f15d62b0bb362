import type { MediaPacket } from './media-packet.js';

/**
 * Anything that consumes a live stream: an RTMP or KCP viewer, an HTTP-FLV
 * response, the HLS segmenter, a relay push. `send` is called synchronously
 * from the publisher's data path, so it must never block or throw; a slow
 * consumer decides itself what to drop (see ViewerBackpressure).
 */
export interface StreamSubscriber {
  /** Protocol label for metrics and the stream list ("rtmp", "flv", "kcp", "hls", "relay"). */
  readonly protocol: string;
  send(packet: MediaPacket): void;
  /** The publisher went away (or the server is shutting down). */
  end(reason: string): void;
}
