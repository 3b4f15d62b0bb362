import type { MediaPacket } from './media-packet.js';

/**
 * Decides, packet by packet, what a viewer whose socket is backed up gets.
 *
 * When the bytes queued in the viewer's socket exceed `maxBacklogBytes`, we
 * stop writing media and wait for the next video keyframe (or, for an
 * audio-only stream, for the backlog to drain): a decoder can resume cleanly
 * from a keyframe, whereas dropping arbitrary frames corrupts the picture.
 * Sequence headers and metadata are always delivered because decoding
 * everything after them depends on them. Memory per viewer is therefore
 * bounded by roughly maxBacklogBytes plus one packet.
 */
export class ViewerBackpressure {
  private dropping = false;
  droppedPackets = 0;
  droppedBytes = 0;
  /** How many times the viewer fell behind and skipped to a keyframe. */
  skips = 0;

  constructor(readonly maxBacklogBytes: number) {}

  /**
   * True once the backlog passed twice the bound: the viewer must be
   * disconnected. Sequence headers and metadata get past the soft bound (a
   * decoder needs them), so a publisher sending data messages could still
   * grow a stalled viewer's queue; this hard bound is what caps it.
   */
  mustDisconnect(queuedBytes: number): boolean {
    return queuedBytes > 2 * this.maxBacklogBytes;
  }

  /** Returns true if `packet` should be written given `queuedBytes` already waiting in the socket. */
  admit(packet: MediaPacket, queuedBytes: number, hasVideo: boolean): boolean {
    if (packet.isScript || packet.isSequenceHeader) return true;
    if (this.dropping) {
      const canResume = queuedBytes <= this.maxBacklogBytes / 2 && (hasVideo ? packet.isKeyframe : true);
      if (canResume) {
        this.dropping = false;
        return true;
      }
      this.count(packet);
      return false;
    }
    if (queuedBytes > this.maxBacklogBytes) {
      this.dropping = true;
      this.skips++;
      this.count(packet);
      return false;
    }
    return true;
  }

  private count(packet: MediaPacket): void {
    this.droppedPackets++;
    this.droppedBytes += packet.payload.length;
  }
}
