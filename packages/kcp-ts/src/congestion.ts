import type { Kcp, KcpSendOps } from './kcp.js';
import { TokenBucketPacer } from './pacing.js';
import { seqDiff } from './seq.js';

/**
 * Congestion control for live media, as a send hook (KcpSendOps): a
 * model-based controller in the manner of BBR (and of geph2's kcp-go fork,
 * built for lossy links out of mainland China), not a loss-based window.
 *
 * - It estimates the bottleneck's delivery rate from acknowledgements
 *   (TCP-style rate samples: bytes acknowledged between a segment's
 *   transmission and its ack, over that time; a windowed maximum) and the
 *   path's minimum RTT (a windowed minimum).
 * - It paces every data send, first transmissions and retransmissions
 *   alike, at `gain x bandwidth`, and keeps the bytes in flight under
 *   `2.5 x bandwidth x minRtt` (the BDP plus room for the retransmissions
 *   of a lossy path).
 * - Random loss is not congestion: a sample taken while the RTT sits at its
 *   minimum is scaled up by the recent loss ratio (the path carried what we
 *   sent; some of it was dropped, not queued), so the rate holds.
 * - Queueing is: when the smoothed RTT stands above the minimum by more than
 *   max(queueDelayMs, minRtt / 2), the bandwidth estimate falls to what was
 *   actually delivered in the last round (a flat delivery rate under a
 *   rising RTT is the bottleneck's rate) and the pacer drains at 0.85x
 *   until the queue is gone. Loss correction is off meanwhile.
 * - Probing: a start-up phase at 2x until the estimate stops growing by 25 %
 *   a round for three rounds, then an eight-round cycle with one round at
 *   1.25x and one at 0.85x (BBR's ProbeBW). A probe never runs while a
 *   queue stands, so a narrow link's queue is not overdriven.
 * - Application-limited rounds (the encoder sent less than the pacer
 *   allowed) never lower the estimate: a live stream between keyframes
 *   says nothing about the path.
 * - Keyframe bursts leave at the paced rate: no faster than the path has
 *   delivered within the last few seconds, which are kept (at least 2 s, a
 *   GOP) so a keyframe is never paced by the quiet frames in between.
 * - No ProbeRTT phase: a live stream's sender runs dry between frames, so
 *   the queue drains on its own and the windowed minimum sees it; cutting
 *   the flight to four packets would stall the picture.
 *
 * Allocation-free per flush and per ack.
 */
export interface LiveRateOptions {
  /** Pacing rate before the first delivery samples, kbit/s (default 6000: a joining viewer's GOP burst goes out fast; start-up exits on the first standing queue). */
  initialKbit?: number;
  /** Floor of the pacing rate, kbit/s (default 300). */
  minKbit?: number;
  /** Ceiling of the pacing rate, kbit/s (default 1,000,000). */
  maxKbit?: number;
  /**
   * Queueing delay (smoothed RTT above the minimum) that counts as a standing queue, ms (default 50; at
   * least minRtt / 2). Below ~50 ms, a busy event loop's late timers on either end read as queueing.
   */
  queueDelayMs?: number;
}

/** A windowed extreme over two buckets of `bucketMs`: covers the last bucketMs..2 x bucketMs. */
class WindowedExtreme {
  private current: number;
  private previous: number;
  private bucketStart: number | undefined;

  constructor(
    private readonly bucketMs: number,
    private readonly better: (a: number, b: number) => boolean,
    private readonly empty: number,
  ) {
    this.current = empty;
    this.previous = empty;
  }

  get value(): number {
    return this.better(this.current, this.previous) ? this.current : this.previous;
  }

  add(sample: number, now: number): void {
    this.rotate(now);
    if (this.better(sample, this.current)) this.current = sample;
  }

  /** Replaces what the window holds (the estimate was found wrong). */
  reset(value: number, now: number): void {
    this.current = value;
    this.previous = this.empty;
    this.bucketStart = now;
  }

  rotate(now: number): void {
    if (this.bucketStart === undefined) this.bucketStart = now;
    const age = seqDiff(now, this.bucketStart);
    if (age < this.bucketMs) return;
    this.previous = age < 2 * this.bucketMs ? this.current : this.empty;
    this.current = this.empty;
    this.bucketStart = now;
  }
}

const STARTUP_GAIN = 2;
const PROBE_GAIN = 1.25;
const DRAIN_GAIN = 0.85;
const CYCLE_LENGTH = 8;
const CWND_GAIN = 2.5;
const BW_BUCKET_MS = 2000;
const MIN_RTT_BUCKET_MS = 5000;
const STARTUP_FLAT_ROUNDS = 3;
const MAX_LOSS_CORRECTION = 0.3;

export type LiveRatePhase = 'startup' | 'probe' | 'steady' | 'drain';

export class LiveRateController implements KcpSendOps {
  private readonly pacer: TokenBucketPacer;
  private readonly minBytesPerMs: number;
  private readonly maxBytesPerMs: number;
  private readonly queueDelayMs: number;
  /** Delivery rate, bytes/ms, windowed max. */
  private readonly bandwidth = new WindowedExtreme(BW_BUCKET_MS, (a, b) => a > b, 0);
  private readonly minRttFilter = new WindowedExtreme(MIN_RTT_BUCKET_MS, (a, b) => a < b, Infinity);
  private initialBytesPerMs: number;
  private startup = true;
  private startupBest = 0;
  private flatRounds = 0;
  private cycleIndex = 0;
  private gain = STARTUP_GAIN;
  private roundStart: number | undefined;
  /** Largest raw (uncorrected) delivery sample of the current and the last round. */
  private roundDelivery = 0;
  private lastRoundDelivery = 0;
  private lossRatio = 0;
  /** The initial rate holds as a floor until the first standing queue (see estimate()). */
  private initialFloor = true;
  /** The pacer or window held data back at some flush of this round (not application-limited). */
  private roundBacklogged = false;
  private queueing = false;
  private lastBudget = 0;
  private tokensBefore = 0;

  constructor(options: LiveRateOptions = {}) {
    this.initialBytesPerMs = (options.initialKbit ?? 6000) / 8;
    this.minBytesPerMs = (options.minKbit ?? 300) / 8;
    this.maxBytesPerMs = (options.maxKbit ?? 1_000_000) / 8;
    this.queueDelayMs = options.queueDelayMs ?? 50;
    this.pacer = new TokenBucketPacer(this.initialBytesPerMs * 8 * STARTUP_GAIN);
  }

  /** Estimated bottleneck rate, kbit/s (the initial rate until samples arrive). */
  get bandwidthKbit(): number {
    return this.estimate() * 8;
  }
  /** Minimum RTT over the last 5-10 s, ms (0 until the first ack). */
  get minRtt(): number {
    const value = this.minRttFilter.value;
    return Number.isFinite(value) ? value : 0;
  }
  get pacingKbit(): number {
    return this.pacer.rateKbit;
  }
  get phase(): LiveRatePhase {
    if (this.queueing) return 'drain';
    if (this.startup) return 'startup';
    return this.gain > 1 ? 'probe' : 'steady';
  }
  /** Share of recently delivered segments that needed a retransmission (smoothed over ~64). */
  get loss(): number {
    return this.lossRatio;
  }

  /**
   * The initial rate is a floor until a standing queue has been seen: the
   * first samples of a session come from its handshake and an encoder's
   * quiet frames (application-limited), and taken at their word they would
   * pace the first keyframes at a few hundred kbit/s. Only queueing, the
   * path's own signal, takes the estimate below the initial rate.
   */
  private estimate(): number {
    const measured = this.bandwidth.value;
    return this.initialFloor ? Math.max(measured, this.initialBytesPerMs) : measured > 0 ? measured : this.initialBytesPerMs;
  }

  /** Bytes allowed in flight: 2.5 BDP, never under 8 full segments. */
  cwndBytes(kcp: Kcp): number {
    const rtt = this.minRtt > 0 ? this.minRtt : 100;
    return Math.max(8 * kcp.mtu, CWND_GAIN * this.estimate() * Math.max(rtt, 2 * kcp.interval));
  }

  sendBudget(kcp: Kcp, current: number): number {
    this.advanceRound(kcp, current);
    this.tokensBefore = this.pacer.sendBudget(kcp, current);
    // Lost segments count as in flight until acked, so a full window of them would block their
    // own retransmission: one datagram per flush always goes (oldest first, so those go first).
    const room = Math.max(this.cwndBytes(kcp) - kcp.inflightBytes, kcp.mtu);
    this.lastBudget = Math.max(0, Math.min(this.tokensBefore, room));
    return this.lastBudget;
  }

  sent(kcp: Kcp, unspent: number): void {
    this.pacer.sent(kcp, this.tokensBefore - (this.lastBudget - unspent));
    // The budget ran out: data waited on us, so this round's samples measure the path, not the encoder.
    if (unspent < kcp.mtu) this.roundBacklogged = true;
  }

  acked(kcp: Kcp, _bytes: number, deliveredAtSend: number, deliveredTimeAtSend: number, rtt: number, transmission: number, current: number): void {
    if (rtt >= 0) {
      this.minRttFilter.add(Math.max(1, rtt), current);
      // Share of delivered segments whose first copy was lost (not those a spurious timeout resent).
      this.lossRatio += ((transmission > 1 ? 1 : 0) - this.lossRatio) / 64;
    }
    // A una covering segments whose own acks were lost releases them in one burst: no sample.
    if (rtt < 0) return;
    // Ack to ack, as TCP's rate sampling, so batching of acks per flush does not inflate the rate.
    const span = Math.max(seqDiff(current, deliveredTimeAtSend), rtt, kcp.interval);
    const raw = (kcp.delivered - deliveredAtSend) / span;
    if (raw > this.roundDelivery) this.roundDelivery = raw;
    const corrected = this.queueing ? raw : raw / (1 - Math.min(this.lossRatio, MAX_LOSS_CORRECTION));
    this.bandwidth.add(Math.min(corrected, this.maxBytesPerMs), current);
  }

  /** Once per round trip: loss ratio, queue detection, phase and gain. */
  private advanceRound(kcp: Kcp, current: number): void {
    if (this.roundStart === undefined) this.roundStart = current;
    const minRtt = this.minRtt;
    const roundMs = Math.max(minRtt > 0 ? minRtt : 100, 2 * kcp.interval);
    if (seqDiff(current, this.roundStart) < roundMs) return;
    this.roundStart = current;
    this.bandwidth.rotate(current);
    this.minRttFilter.rotate(current);

    const queueThreshold = Math.max(this.queueDelayMs, minRtt / 2);
    this.queueing = minRtt > 0 && kcp.srtt - minRtt > queueThreshold;
    const delivered = Math.max(this.roundDelivery, this.lastRoundDelivery);
    this.lastRoundDelivery = this.roundDelivery;
    this.roundDelivery = 0;

    const backlogged = this.roundBacklogged;
    this.roundBacklogged = false;
    if (this.queueing) {
      // A standing queue: what arrived is what the bottleneck passes. Only a round in which we
      // had data waiting says so (an encoder's quiet frames say nothing of the path), and the
      // cut is at most 30 % a round, so one noisy round cannot collapse the rate.
      const estimate = this.estimate();
      if (backlogged && delivered > 0 && delivered < estimate) {
        this.initialFloor = false;
        this.bandwidth.reset(Math.max(delivered, 0.7 * estimate), current);
      }
      this.startup = false;
      this.gain = DRAIN_GAIN;
    } else if (this.startup) {
      const estimate = this.bandwidth.value;
      if (estimate > 1.25 * this.startupBest) {
        this.startupBest = estimate;
        this.flatRounds = 0;
      } else if (++this.flatRounds >= STARTUP_FLAT_ROUNDS) {
        this.startup = false;
      }
      this.gain = this.startup ? STARTUP_GAIN : 1;
    } else {
      this.cycleIndex = (this.cycleIndex + 1) % CYCLE_LENGTH;
      // Headroom for retransmissions in proportion to the loss (none on a clean narrow link,
      // where any excess would only build a queue): a lossy link's repairs must not queue behind new data.
      const cruise = 1 + Math.min(0.5, 2 * this.lossRatio);
      this.gain = this.cycleIndex === 0 ? PROBE_GAIN * cruise : this.cycleIndex === 1 ? DRAIN_GAIN : cruise;
    }
    const rate = Math.min(this.maxBytesPerMs, Math.max(this.minBytesPerMs, this.gain * this.estimate()));
    this.pacer.rateKbit = rate * 8;
  }
}
