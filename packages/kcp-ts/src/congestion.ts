import type { Kcp, KcpSendOps } from './kcp.js';
import { TokenBucketPacer } from './pacing.js';
import { seqDiff } from './seq.js';

/**
 * Congestion control for live media, as a send hook (KcpSendOps): a
 * model-based controller in the manner of BBR and of geph2's kcp-go fork
 * (built for lossy links out of mainland China), not a loss-based window.
 *
 * - It estimates the bottleneck's delivery rate from acknowledgements
 *   (TCP-style rate samples: bytes acknowledged between a segment's
 *   transmission and its ack, over that time; a windowed maximum over 2-4 s)
 *   and the path's minimum RTT (a windowed minimum over 5-10 s).
 * - It paces every data send, first transmissions and retransmissions
 *   alike, and keeps the bytes in flight under `2.5 x bandwidth x minRtt`
 *   (the BDP plus room for the retransmissions of a lossy path).
 * - A live stream is application-limited: between frames the sender has
 *   nothing to send, so most rate samples only say "the path carried at
 *   least the stream". The maximum filter takes them as that (a lower bound
 *   never lowers the estimate), and the pacer runs at 1.25x the estimate
 *   while no queue stands: a keyframe or a backlog leaves a little faster
 *   than the path has proven, which both drains our own queue and probes
 *   (if the path takes it, the samples rise and so does the estimate; BBR's
 *   1.25x probe, every round instead of one in eight because a live
 *   sender's backlogs are short). Pacing at the estimate itself, with the
 *   estimate near the stream's average, would leave no headroom at all and
 *   the send queue would grow with every keyframe.
 * - Queueing is the path's signal, read from the RTT: when even the
 *   smallest RTT of a round stands above the minimum by more than
 *   max(queueDelayMs, minRtt / 2), a queue stands (a round's minimum, not
 *   the smoothed RTT, so a busy event loop's late timer or one queued
 *   keyframe is not mistaken for one). Then the estimate falls to what was
 *   actually delivered (a flat delivery rate under a standing queue is the
 *   bottleneck's rate; once per episode and again every 4 rounds it lasts,
 *   at most -30 % each time, and only from rounds in which data waited on
 *   us) and the pacer drains at 0.8x until the queue is gone. Between half
 *   the threshold and the threshold it holds at 1x.
 * - Timeouts: see minRto (a queued segment is not resent as lost).
 * - Random loss is not congestion: while no queue stands, samples are
 *   scaled up by the recent loss ratio (the path carried what we sent; some
 *   of it was dropped, not queued) and the pacer adds 2 x loss of headroom
 *   for the retransmissions, so the rate holds.
 * - No ProbeRTT phase: a live stream's sender runs dry between frames, so
 *   the queue drains on its own and the windowed minimum sees it; cutting
 *   the flight to four packets would stall the picture.
 *
 * Allocation-free per flush and per ack.
 */
export interface LiveRateOptions {
  /** Floor of the estimate until the first standing queue, kbit/s (default 6000: a joining viewer's GOP burst goes out fast). */
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

/** Pacing gain over the estimate while no queue stands (see the class comment). */
const CRUISE_GAIN = 1.25;
/** Pacing gain while a queue stands: the bottleneck drains it at 20 % of its rate. */
const DRAIN_GAIN = 0.8;
const CWND_GAIN = 2.5;
/** A round lasts the min RTT, and at least this many flush intervals (the receiver acks once per interval). */
const ROUND_INTERVALS = 4;
const BW_BUCKET_MS = 2000;
const MIN_RTT_BUCKET_MS = 5000;
const MAX_LOSS_CORRECTION = 0.3;
/** The most a single round with a standing queue cuts the estimate. */
const MAX_ROUND_CUT = 0.3;
/** A standing queue that outlasts this many rounds of draining cuts the estimate again. */
const RECUT_ROUNDS = 4;

export type LiveRatePhase = 'cruise' | 'drain';

export class LiveRateController implements KcpSendOps {
  private readonly pacer: TokenBucketPacer;
  private readonly minBytesPerMs: number;
  private readonly maxBytesPerMs: number;
  private readonly queueDelayMs: number;
  /** Delivery rate, bytes/ms, windowed max. */
  private readonly bandwidth = new WindowedExtreme(BW_BUCKET_MS, (a, b) => a > b, 0);
  private readonly minRttFilter = new WindowedExtreme(MIN_RTT_BUCKET_MS, (a, b) => a < b, Infinity);
  /** Largest RTT sample of the last 2-4 s (the retransmission timeout's floor). */
  private readonly maxRttFilter = new WindowedExtreme(BW_BUCKET_MS, (a, b) => a > b, 0);
  private readonly initialBytesPerMs: number;
  private roundStart: number | undefined;
  /** Smallest RTT sample of the current round (Infinity: none yet). */
  private roundMinRtt = Infinity;
  /** Largest raw (uncorrected) delivery sample of the current and the last round. */
  private roundDelivery = 0;
  private lastRoundDelivery = 0;
  private lossRatio = 0;
  /** The initial rate holds as a floor until the first standing queue (see estimate()). */
  private initialFloor = true;
  /** The pacer or window held data back at some flush of this round (not application-limited). */
  private roundBacklogged = false;
  /** Some flush of this round had budget left and nothing to send. */
  private roundAppLimited = false;
  /** `kcp.delivered` when this round began. */
  private roundDeliveredStart = 0;
  private queueing = false;
  /** Last round's smallest RTT above the minimum, ms. */
  private queueDelay = 0;
  /** Consecutive rounds with a standing queue. */
  private queueRounds = 0;
  private lastBudget = 0;
  private tokensBefore = 0;

  constructor(options: LiveRateOptions = {}) {
    this.initialBytesPerMs = (options.initialKbit ?? 6000) / 8;
    this.minBytesPerMs = (options.minKbit ?? 300) / 8;
    this.maxBytesPerMs = (options.maxKbit ?? 1_000_000) / 8;
    this.queueDelayMs = options.queueDelayMs ?? 50;
    this.pacer = new TokenBucketPacer(this.initialBytesPerMs * 8 * CRUISE_GAIN);
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
    return this.queueing ? 'drain' : 'cruise';
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

  /**
   * No timeout before the longest round trip of the last 2-4 s, nor before
   * the queue this controller tolerates has had time to drain (minRtt +
   * the queue threshold), plus two flush intervals: a segment waiting in a
   * bottleneck's queue is not lost, and a spurious copy would only lengthen
   * the queue (ikcp's nodelay RTO, srtt + 4 x rttvar, follows a growing
   * queue too slowly). Fast retransmit, which does not wait, repairs most
   * losses; the cost on a link with random loss and no queue is that repairs
   * left to the timer wait up to ~70 ms longer (see docs/benchmarks.md).
   */
  minRto(kcp: Kcp): number {
    const minRtt = this.minRtt;
    if (minRtt === 0) return 0;
    return Math.max(this.maxRttFilter.value, minRtt + Math.max(this.queueDelayMs, minRtt / 2)) + 2 * kcp.interval;
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
    else if (kcp.unsentSegments() === 0) this.roundAppLimited = true;
  }

  acked(kcp: Kcp, _bytes: number, deliveredAtSend: number, deliveredTimeAtSend: number, rtt: number, transmission: number, current: number): void {
    // A una covering segments whose own acks were lost releases them in one burst: no sample.
    if (rtt < 0) return;
    const sampleRtt = Math.max(1, rtt);
    this.minRttFilter.add(sampleRtt, current);
    this.maxRttFilter.add(sampleRtt, current);
    if (sampleRtt < this.roundMinRtt) this.roundMinRtt = sampleRtt;
    // Share of delivered segments whose first copy was lost (not those a spurious timeout resent).
    this.lossRatio += ((transmission > 1 ? 1 : 0) - this.lossRatio) / 64;
    // Ack to ack, as TCP's rate sampling, so batching of acks per flush does not inflate the rate.
    const span = Math.max(seqDiff(current, deliveredTimeAtSend), rtt, kcp.interval);
    const raw = (kcp.delivered - deliveredAtSend) / span;
    if (raw > this.roundDelivery) this.roundDelivery = raw;
    this.addSample(raw, current);
  }

  private addSample(raw: number, current: number): void {
    const corrected = this.queueing ? raw : raw / (1 - Math.min(this.lossRatio, MAX_LOSS_CORRECTION));
    this.bandwidth.add(Math.min(corrected, this.maxBytesPerMs), current);
  }

  /** Once per round trip: queue detection, the estimate's cut under a standing queue, the pacing rate. */
  private advanceRound(kcp: Kcp, current: number): void {
    if (this.roundStart === undefined) this.roundStart = current;
    const minRtt = this.minRtt;
    const roundMs = Math.max(minRtt > 0 ? minRtt : 100, ROUND_INTERVALS * kcp.interval);
    const elapsed = seqDiff(current, this.roundStart);
    if (elapsed < roundMs) return;
    this.roundStart = current;
    // The round's own delivery rate, when data waited on us all round: unlike a segment's
    // ack-to-ack sample it spans several of the receiver's ack batches, which on a short path
    // (a few ms of RTT, acks sent once per flush interval) read low.
    if (!this.roundAppLimited && this.roundBacklogged) this.addSample((kcp.delivered - this.roundDeliveredStart) / elapsed, current);
    this.roundDeliveredStart = kcp.delivered;
    this.roundAppLimited = false;
    this.bandwidth.rotate(current);
    this.minRttFilter.rotate(current);
    this.maxRttFilter.rotate(current);

    // A round without acks (an idle sender) says nothing new: the queue state carries over.
    if (Number.isFinite(this.roundMinRtt)) this.queueDelay = minRtt > 0 ? this.roundMinRtt - minRtt : 0;
    this.roundMinRtt = Infinity;
    const threshold = Math.max(this.queueDelayMs, minRtt / 2);
    this.queueing = this.queueDelay > threshold;
    this.queueRounds = this.queueing ? this.queueRounds + 1 : 0;
    const delivered = Math.max(this.roundDelivery, this.lastRoundDelivery);
    this.lastRoundDelivery = this.roundDelivery;
    this.roundDelivery = 0;
    const backlogged = this.roundBacklogged;
    this.roundBacklogged = false;

    let gain: number;
    if (this.queueing) {
      // A standing queue: what arrived is what the bottleneck passes. Only a round in which we
      // had data waiting says so (an encoder's quiet frames say nothing of the path). Once per
      // episode (and again if it lasts): while we drain, deliveries follow our own lower rate.
      const estimate = this.estimate();
      if (this.queueRounds % RECUT_ROUNDS === 1 && backlogged && delivered > 0 && delivered < estimate) {
        this.initialFloor = false;
        this.bandwidth.reset(Math.max(delivered, (1 - MAX_ROUND_CUT) * estimate), current);
      }
      gain = DRAIN_GAIN;
    } else if (this.queueDelay > threshold / 2) {
      // Some queue: hold at the estimate, neither filling nor draining it.
      gain = 1 + Math.min(0.5, 2 * this.lossRatio);
    } else {
      // Headroom for retransmissions in proportion to the loss: a lossy link's repairs must not queue behind new data.
      gain = CRUISE_GAIN + Math.min(0.5, 2 * this.lossRatio);
    }
    const rate = Math.min(this.maxBytesPerMs, Math.max(this.minBytesPerMs, gain * this.estimate()));
    this.pacer.rateKbit = rate * 8;
  }
}
