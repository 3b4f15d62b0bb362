import type { MediaPacket } from './media-packet.js';

/**
 * The packets since the last video keyframe, so a viewer who joins now can
 * start decoding immediately instead of waiting up to a GOP for the next
 * keyframe. Bounded in packets and bytes: a publisher with an absurd GOP (or
 * none) cannot make us hold unbounded memory; past the bound the cache is
 * emptied and new viewers simply wait for the next keyframe.
 */
export class GopCache {
  private packets: MediaPacket[] = [];
  private bytes = 0;
  private sawKeyframe = false;

  constructor(
    private readonly maxPackets = 4096,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  add(packet: MediaPacket): void {
    if (packet.isScript || packet.isSequenceHeader) return;
    if (packet.isKeyframe) {
      this.packets = [];
      this.bytes = 0;
      this.sawKeyframe = true;
    } else if (!this.sawKeyframe) {
      // Audio before the first keyframe is not useful to a video viewer's
      // decoder start, but audio-only streams never see a keyframe: keep a
      // short tail of audio so they too start at once.
      if (!packet.isAudio) return;
      if (this.packets.length >= 64) this.dropOldest();
    }
    if (this.packets.length >= this.maxPackets || this.bytes + packet.payload.length > this.maxBytes) {
      this.clear();
      return;
    }
    this.packets.push(packet);
    this.bytes += packet.payload.length;
  }

  /** Snapshot of the cached packets, oldest first. */
  get contents(): readonly MediaPacket[] { return this.packets; }
  get byteLength(): number { return this.bytes; }

  clear(): void {
    this.packets = [];
    this.bytes = 0;
    this.sawKeyframe = false;
  }

  private dropOldest(): void {
    const first = this.packets.shift();
    if (first) this.bytes -= first.payload.length;
  }
}
