import type { MediaPacket } from './media-packet.js';

/**
 * How old the oldest media still waiting in a send queue is. Each write is
 * recorded with its arrival time and the running total of bytes written;
 * given the bytes still queued (app queue + KCP's waitSnd), the oldest
 * queued byte belongs to the write whose running total passes
 * `written - queued`. A fixed ring of the last `capacity` writes, so no
 * allocation per packet; a queue older than the ring reads as the oldest
 * write the ring remembers, which is already far past any budget.
 */
export class SendQueueAge {
  private readonly endOffsets: Float64Array;
  private readonly times: Float64Array;
  private head = 0;
  private count = 0;
  private written = 0;
  /** Drain-rate sampling: when and at what sent total the current sample began (undefined: queue was empty). */
  private rateMarkAt: number | undefined;
  private rateMarkSent = 0;
  private bytesPerMs = 0;

  constructor(capacity = 1024) {
    this.endOffsets = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  record(bytes: number, now: number): void {
    this.written += bytes;
    const slot = (this.head + this.count) % this.endOffsets.length;
    this.endOffsets[slot] = this.written;
    this.times[slot] = now;
    if (this.count < this.endOffsets.length) this.count++;
    else this.head = (this.head + 1) % this.endOffsets.length;
  }

  /**
   * How long `queuedBytes` take to leave at the rate the queue has been
   * draining while it was not empty (sampled over at least RATE_WINDOW_MS),
   * ms; 0 while that rate is unknown. Unlike the age, this counts what was
   * written after the oldest byte: behind a link slower than the stream the
   * queue holds more than its age's worth of link time.
   */
  drainMs(queuedBytes: number, now: number): number {
    if (queuedBytes <= 0) {
      this.rateMarkAt = undefined;
      return 0;
    }
    const sent = this.written - queuedBytes;
    if (this.rateMarkAt === undefined) {
      this.rateMarkAt = now;
      this.rateMarkSent = sent;
    } else if (now - this.rateMarkAt >= RATE_WINDOW_MS) {
      const sample = (sent - this.rateMarkSent) / (now - this.rateMarkAt);
      this.bytesPerMs = this.bytesPerMs === 0 ? sample : (this.bytesPerMs + sample) / 2;
      this.rateMarkAt = now;
      this.rateMarkSent = sent;
    }
    return this.bytesPerMs > 0 ? queuedBytes / this.bytesPerMs : 0;
  }

  /** Age in ms of the oldest byte of `queuedBytes` still waiting; 0 for an empty queue. */
  ageMs(queuedBytes: number, now: number): number {
    if (queuedBytes <= 0 || this.count === 0) return 0;
    const firstQueued = this.written - queuedBytes;
    // Drop writes wholly sent; the first remaining one holds the oldest queued byte.
    while (this.count > 1 && this.endOffsets[this.head]! <= firstQueued) {
      this.head = (this.head + 1) % this.endOffsets.length;
      this.count--;
    }
    return Math.max(0, now - this.times[this.head]!);
  }
}

/** Keyframe intervals above this are not taken for the GOP's length (a publisher's pause, a timestamp jump). */
const MAX_GOP_MS = 10_000;

/** Shortest interval over which SendQueueAge samples the drain rate, ms. */
const RATE_WINDOW_MS = 200;

/** Why the deadline dropped a frame. */
export type LateDropKind = 'non-reference' | 'gop' | 'audio';

export interface LateDropCounts {
  /** Video frames no other frame refers to, dropped alone. */
  nonReference: number;
  /** Video frames of the rest of a GOP, dropped up to the next keyframe. */
  gop: number;
  /** Audio frames, dropped only once video was already being skipped and the queue stayed late. */
  audio: number;
}

/**
 * H.264 in FLV: true when no slice NAL unit of the frame is a reference
 * (nal_ref_idc 0), so dropping it alone leaves every later frame decodable.
 * FLV's "disposable inter frame" (frame type 3) says the same for any codec.
 */
export function isNonReferenceFrame(packet: MediaPacket): boolean {
  const video = packet.video;
  if (video === null || packet.isKeyframe || video.sequenceHeader) return false;
  const body = packet.payload;
  if (((body[0]! >> 4) & 0x07) === 3) return true;
  if (video.codec !== 'h264') return false;
  let sawSlice = false;
  // AVCC: 4-byte big-endian lengths, each followed by a NAL unit.
  for (let offset = video.dataOffset; offset + 5 <= body.length; ) {
    const length = body.readUInt32BE(offset);
    const header = body[offset + 4]!;
    const type = header & 0x1f;
    if (type >= 1 && type <= 5) {
      if ((header & 0x60) !== 0) return false;
      sawSlice = true;
    }
    offset += 4 + length;
  }
  return sawSlice;
}

/**
 * The live deadline: once the media waiting in a send queue is older than
 * `budgetMs`, frames that would only arrive late are dropped at frame
 * boundaries, cheapest first:
 *   1. a non-reference video frame (nothing depends on it);
 *   2. otherwise the rest of the GOP, every video frame up to the next
 *      keyframe (a reference frame dropped breaks the frames after it);
 *   3. audio, only when video is already being skipped and the queue is
 *      still past 1.5 x the budget (audio alone is late), or when the
 *      stream has no video.
 * Never dropped: keyframes (the receiver needs them to resume; skipping
 * ends there), sequence headers and metadata. The receiver keeps playing
 * newer frames at a lower frame rate instead of waiting for old ones.
 * Pure decisions: the caller passes the queue's age and counts/logs.
 */
export class LiveDeadline {
  readonly dropped: LateDropCounts = { nonReference: 0, gop: 0, audio: 0 };
  private skippingGop = false;
  /** Timestamp of the last keyframe (undefined: none yet) and the interval between the last two (0: not known), ms. */
  private keyframeTs: number | undefined;
  private gopMs = 0;

  constructor(readonly budgetMs: number) {}

  get totalDropped(): number {
    return this.dropped.nonReference + this.dropped.gop + this.dropped.audio;
  }

  /** Whether to send `packet`; when not, the returned kind says which rule dropped it (null: send). */
  decide(packet: MediaPacket, queueAgeMs: number, hasVideo: boolean, drainMs = 0): LateDropKind | null {
    if (packet.isScript || packet.isSequenceHeader) return null;
    if (packet.isVideo) {
      if (packet.isKeyframe) {
        const interval = this.keyframeTs === undefined ? 0 : (packet.timestamp - this.keyframeTs) >>> 0;
        this.gopMs = interval <= MAX_GOP_MS ? interval : 0;
        this.keyframeTs = packet.timestamp;
        this.skippingGop = false;
        return null;
      }
      if (this.skippingGop) return this.count('gop');
      if (!this.isLate(packet, queueAgeMs, drainMs)) return null;
      if (isNonReferenceFrame(packet)) return this.count('non-reference');
      this.skippingGop = true;
      return this.count('gop');
    }
    if (packet.isAudio && queueAgeMs > this.budgetMs) {
      if (!hasVideo || (this.skippingGop && queueAgeMs > 1.5 * this.budgetMs)) return this.count('audio');
    }
    return null;
  }

  /**
   * Past the budget, or (once it is half spent) when the queue would still
   * hold this GOP's frames as the next keyframe arrives. Only what is
   * already in the transport is sent, so a tail that outlasts the GOP makes
   * the next GOP late from its first frame, and its frames go too: on a
   * link narrower than the stream, dropping a GOP's last frames a little
   * early keeps every next GOP whole instead of losing every other one.
   */
  private isLate(packet: MediaPacket, queueAgeMs: number, drainMs: number): boolean {
    // What this frame would wait. Right after a skip the queue's oldest bytes are old but few: the
    // next GOP's frames wait only for them to drain, so the smaller figure is the frame's lateness.
    const wait = drainMs > 0 ? Math.min(queueAgeMs, drainMs) : queueAgeMs;
    if (wait > this.budgetMs) return true;
    if (this.gopMs === 0 || this.keyframeTs === undefined || queueAgeMs <= this.budgetMs / 2) return false;
    const untilNextKeyframe = this.gopMs - ((packet.timestamp - this.keyframeTs) >>> 0);
    return Math.max(queueAgeMs, drainMs) > untilNextKeyframe;
  }

  private count(kind: LateDropKind): LateDropKind {
    if (kind === 'non-reference') this.dropped.nonReference++;
    else if (kind === 'gop') this.dropped.gop++;
    else this.dropped.audio++;
    return kind;
  }
}

/**
 * The deadline as a send path uses it: the queue's age from the bytes it
 * reports queued, the decision, and the first drop of each late episode
 * reported once (for a log line) rather than per frame.
 */
export class LiveDeadlineGate {
  readonly deadline: LiveDeadline;
  private readonly age = new SendQueueAge();
  private inEpisode = false;
  /** Age of the queue at the last decision, ms. */
  lastAgeMs = 0;

  constructor(budgetMs: number, private readonly onLate?: (kind: LateDropKind, ageMs: number, dropped: LateDropCounts) => void) {
    this.deadline = new LiveDeadline(budgetMs);
  }

  /** True: send `packet` (then `record` its bytes); false: it was late and is dropped. */
  admit(packet: MediaPacket, queuedBytes: number, hasVideo: boolean, now: number): boolean {
    this.lastAgeMs = this.age.ageMs(queuedBytes, now);
    const kind = this.deadline.decide(packet, this.lastAgeMs, hasVideo, this.age.drainMs(queuedBytes, now));
    if (kind === null) {
      this.inEpisode = false;
      return true;
    }
    if (!this.inEpisode) {
      this.inEpisode = true;
      this.onLate?.(kind, this.lastAgeMs, this.deadline.dropped);
    }
    return false;
  }

  /** After `admit` returned true: the bytes the packet took in the queue. */
  record(bytes: number, now: number): void {
    this.age.record(bytes, now);
  }
}
