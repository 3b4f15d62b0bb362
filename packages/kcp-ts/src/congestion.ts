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
 *   never lowers the estimate). Ack-to-ack samples cannot exceed what was
 *   in flight over one RTT, so a keyframe sent in 50 ms over a 100 ms RTT
 *   never shows a path faster than the stream: trains do (see
 *   trainSample), so keyframes leave faster once the path has carried one
 *   at the pacing rate without spreading it. The pacer runs at 1.25x the estimate
 *   while no queue shows, easing to 1x as the RTT rises to half the queue
 *   threshold (at a full 1.25x until then, a stream above a 2 Mbit/s link
 *   overshot the router's queue to 124 ms every cycle, since the RTT shows
 *   a queue one round late): a keyframe or a backlog leaves a little faster
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
 * - Timeouts: see minRto (a queued segment is not resent as lost; on a
 *   path without a queue, ikcp's own timeout repairs random loss).
 * - A longer path is not a queue: a route change (or a link that gained
 *   delay) raises every RTT at once, and the minimum filter would hold the
 *   old path's RTT for 5-10 s, reading a standing queue and cutting the
 *   rate all that time. A queue of ours moves: it grows while we overdrive
 *   and shrinks while we drain at 0.8x. When the smallest RTT of every
 *   round stays flat for half a second of "queueing" while almost everything
 *   sent is delivered, the controller takes the new RTT as the path's
 *   minimum and restores the estimate it had before (see watchLongerPath).
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

/** Consecutive acked segments sent at most this many flush intervals apart belong to one train. */
const TRAIN_GAP_INTERVALS = 2;
/** A train's acks must span this many flush intervals before it yields a sample (the receiver acks once per interval). */
const TRAIN_MIN_ACK_INTERVALS = 2;
/** Pacing gain over the estimate while no queue stands (see the class comment). */
const CRUISE_GAIN = 1.25;
/**
 * Pacing gain over the measured rate in startup (see checkStartup): the rate
 * doubles each round while the path keeps up (BBR's startup uses 2/ln 2).
 */
const STARTUP_GAIN = 2;
/** Startup ends after this many rounds in which data waited all round and the estimate grew less than STARTUP_GROWTH. */
const STARTUP_FLAT_ROUNDS = 3;
const STARTUP_GROWTH = 1.25;
/**
 * A sender with data waiting for this many rounds in a row is a bulk
 * transfer (a live stream's keyframe or catch-up lasts a round or two):
 * it probes one round in BULK_CYCLE.length, drains the next, and cruises at
 * 1x in between, as BBR's ProbeBW. Probing at 1.25x every round would keep a
 * shallow router queue (one that overflows before the RTT shows
 * queueDelayMs of it: 100 packets at 40 Mbit/s are 28 ms) overflowing.
 */
const BULK_ROUNDS = 4;
const BULK_CYCLE = [CRUISE_GAIN, 0.75, 1, 1, 1, 1, 1, 1];
/**
 * A queue that overflows before it shows in the RTT: resends per first send
 * in rounds after a probe exceed those after calm rounds by this much
 * (smoothed: random loss of 20 % varies by ~7 points from round to round).
 */
const OVERFLOW_MARGIN = 0.1;
/** Fewest first sends a round needs for its resend share to count. */
const OVERFLOW_MIN_SEGMENTS = 16;
/** Calm rounds counted before the resend shares are compared. */
const OVERFLOW_MIN_CALM_ROUNDS = 4;
/** Rounds at 1x after an overflow before probing again. */
const OVERFLOW_HOLD_ROUNDS = 6;
/** Pacing gain while a queue stands: the bottleneck drains it at 20 % of its rate. */
const DRAIN_GAIN = 0.8;
const CWND_GAIN = 2.5;
/** A round lasts the min RTT, and at least this many flush intervals (the receiver acks once per interval). */
const ROUND_INTERVALS = 4;
const BW_BUCKET_MS = 2000;
/** The send rate hasRoomFor compares with is averaged over about this long. */
const SENT_RATE_WINDOW_MS = 2000;
/** After hasRoomFor found no room, the room must hold this long before it says yes again. */
const ROOM_HOLD_MS = 10_000;
const MIN_RTT_BUCKET_MS = 5000;
const MAX_LOSS_CORRECTION = 0.3;
/** The most a single round with a standing queue cuts the estimate. */
const MAX_ROUND_CUT = 0.3;
/** A standing queue that outlasts this many rounds of draining cuts the estimate again. */
const RECUT_ROUNDS = 4;
/** How long a standing "queue" must hold flat (neither growing nor draining) before it counts as a longer path. */
const LONGER_PATH_MS = 500;
/** ...and this many rounds of it (on a long path half a second is only a few round trips). */
const LONGER_PATH_MIN_ROUNDS = 8;
/**
 * Share of the bytes sent in that time that must have been delivered: a queue
 * that our overdriving keeps full also holds a flat RTT, but drops what
 * overflows it. 10-15 % of random loss (and its repairs) still passes.
 */
const LONGER_PATH_DELIVERED = 0.8;

export type LiveRatePhase = 'startup' | 'cruise' | 'drain';

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
  /** Largest RTT of the last 2-4 s among segments sent alone (see watchAlone): the path's own jitter. */
  private readonly aloneRttFilter = new WindowedExtreme(BW_BUCKET_MS, (a, b) => a > b, 0);
  /** Send time and RTT of the latest first transmission acked (in send order). */
  private lastAckedSentAt: number | undefined;
  private lastAckedRtt = 0;
  private readonly initialBytesPerMs: number;
  private roundStart: number | undefined;
  /** Smallest RTT sample of the current round (Infinity: none yet). */
  private roundMinRtt = Infinity;
  /** Largest raw (uncorrected) delivery sample of the current and the last round. */
  private roundDelivery = 0;
  private lastRoundDelivery = 0;
  private lossRatio = 0;
  /**
   * The same share over segments acked after a round that did not probe
   * (paced at most at the estimate, or not backlogged): loss the path
   * shows without our overdriving it, the random loss. See randomLoss().
   */
  private calmLossRatio = 0;
  /** The round that just ended paced at most at the estimate or ran out of data. */
  private lastRoundCalm = true;
  /** Base pacing gain of the current round, before the loss headroom. */
  private roundGain = CRUISE_GAIN;
  /** Rounds in a row in which data waited all round, and the bulk probe cycle's position. */
  private backloggedRounds = 0;
  private cycleIndex = 0;
  /** kcp.stats at the start of this round: first sends, and segments repaired (resent at least once); the last round's first sends. */
  private roundFirstSendsStart = 0;
  private roundRepairedStart = 0;
  private lastRoundFirstSends = 0;
  /** Calm rounds whose resend share has been counted. */
  private calmRounds = 0;
  /** Resends per first send (smoothed) in rounds after calm rounds, and after probing ones. */
  private calmResendShare = 0;
  private probeResendShare = 0;
  /** Rounds left at 1x after an overflow. */
  private holdRounds = 0;
  private overflows = 0;
  /** The initial rate holds as a floor until the first standing queue (see estimate()). */
  private initialFloor = true;
  /** The pacer or window held data back at some flush of this round (not application-limited). */
  private roundBacklogged = false;
  /** Some flush of this round had budget left and nothing to send. */
  private roundAppLimited = false;
  /** Some flush of this round left data unsent (held by the pacer, the window or KCP's own windows). */
  private roundDataWaiting = false;
  /** `kcp.delivered` when this round began. */
  private roundDeliveredStart = 0;
  private queueing = false;
  /** Startup: no queue sign yet and the estimate still growing (see checkStartup). */
  private startup = true;
  /** Estimate at the last growth step of startup, and rounds with data waiting all round since. */
  private startupEstimate = 0;
  private startupFlatRounds = 0;
  /** Last round's smallest RTT above the minimum, ms. */
  private queueDelay = 0;
  /** Consecutive rounds with a standing queue. */
  private queueRounds = 0;
  private lastBudget = 0;
  private tokensBefore = 0;
  /** Bytes the pacer let out this round (first sends and retransmissions). */
  private roundSentBytes = 0;
  /** What this session sent (first copies and repairs), bytes per ms, averaged over about 2 s. */
  private sentRate = 0;
  /** When hasRoomFor last found no room. */
  private noRoomAt: number | undefined;
  /** When the first RTT sample came: the filters hold a full window 2 x BW_BUCKET_MS later. */
  private firstRttAt: number | undefined;
  /** The current queueing episode, while one lasts (see watchLongerPath). */
  private episodeStart: number | undefined;
  private episodeRounds = 0;
  private episodeLowRtt = 0;
  private episodeHighRtt = 0;
  private episodeSentBytes = 0;
  private episodeDeliveredStart = 0;
  private episodeEstimateBefore = 0;
  private episodeInitialFloorBefore = false;
  private longerPaths = 0;
  /** The train being acknowledged (see trainSample); trainFirstAckAt undefined: none. */
  private trainFirstAckAt: number | undefined;
  private trainFirstSentAt = 0;
  private trainLastSentAt = 0;
  private trainBytes = 0;

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
    return this.queueing ? 'drain' : this.startup ? 'startup' : 'cruise';
  }
  /** Share of recently delivered segments that needed a retransmission (smoothed over ~64). */
  get loss(): number {
    return this.lossRatio;
  }
  /** Times probing overflowed a queue too shallow to show in the RTT (see watchOverflow), since the session began. */
  get overflowsSeen(): number {
    return this.overflows;
  }
  /** Times a standing RTT rise was taken for a longer path (the minimum RTT moved up), since the session began. */
  get longerPathsSeen(): number {
    return this.longerPaths;
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
   * On a path that queues: no timeout before the longest round trip of the
   * last 2-4 s, nor before the queue this controller tolerates has had time
   * to drain (minRtt + the queue threshold), plus two flush intervals. A
   * segment waiting in a bottleneck's queue is not lost, and a spurious copy
   * would only lengthen the queue (ikcp's nodelay RTO, srtt + 4 x rttvar,
   * follows a growing queue too slowly).
   *
   * On a path that shows no queue (the longest RTT of the last 2-4 s within
   * half the threshold of the minimum, none standing now) there is no floor:
   * ikcp's own timeout, so random loss left to the timer is repaired as fast
   * as without the controller (in bench:weaknet the floor cost 15-27 % of
   * p99 at 5-10 % loss).
   * The first 4 s of a session keep the floor: a joining viewer's GOP burst
   * builds its queue before the first RTTs show it.
   *
   * A jittery path is not a queue: its RTT swings by up to twice the
   * jitter whatever we send, so the swing that segments sent alone show
   * (see watchAlone) is the path's own and only a rise beyond it counts. On
   * a 5 % loss path with 20 ms of jitter each way, or with event-loop
   * stalls at both ends, the floor held all the time and cost 12-16 % of
   * p99 (virtual link, congestion.test.ts). A stall is not told apart from
   * our own queue at a narrow link, though: there the allowance lets a
   * keyframe's tail be resent as lost now and then (README, Known limits).
   */
  minRto(kcp: Kcp): number {
    const minRtt = this.minRtt;
    if (minRtt === 0) return 0;
    const threshold = this.queueThreshold(minRtt);
    const settled = this.firstRttAt !== undefined && seqDiff(kcp.now, this.firstRttAt) >= 2 * BW_BUCKET_MS;
    const pathJitter = Math.max(0, this.aloneRttFilter.value - minRtt);
    if (settled && this.maxRttFilter.value <= minRtt + pathJitter + threshold / 2 && this.queueDelay <= threshold / 2) return 0;
    return Math.max(this.maxRttFilter.value, minRtt + threshold) + 2 * kcp.interval;
  }

  /**
   * Room for `share` more bytes than we send (FEC parity): until a queue
   * has shown, yes (the estimate is a floor then, not the path's rate);
   * after, only while the estimate carries what we send and the share.
   * Through the relay path, parity outside this check cost a 3 Mbit/s link
   * 18% of the frames (p99 660 ms) and a 2 Mbit/s one half (bench:weaknet,
   * kcp-fec); where it fits it pays (2 % loss + 4 Mbit/s: 129 ms against 272).
   */
  hasRoomFor(kcp: Kcp, share: number): boolean {
    if (!this.initialFloor && this.estimate() < (1 + share) * this.sentRate) {
      this.noRoomAt = kcp.now;
      return false;
    }
    // Once there was no room, it must last a while: the estimate is a 2-4 s maximum, and one
    // keyframe train reading high must not let the parity back onto a link it does not fit.
    return this.noRoomAt === undefined || seqDiff(kcp.now, this.noRoomAt) >= ROOM_HOLD_MS;
  }

  /** RTT above the minimum that counts as a standing queue. */
  private queueThreshold(minRtt: number): number {
    return Math.max(this.queueDelayMs, minRtt / 2);
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
    const spent = this.lastBudget - unspent;
    this.roundSentBytes += spent;
    this.pacer.sent(kcp, this.tokensBefore - spent);
    const waiting = kcp.unsentSegments() > 0;
    if (waiting) this.roundDataWaiting = true;
    // The budget ran out: data waited on us, so this round's samples measure the path, not the encoder.
    if (unspent < kcp.mtu) this.roundBacklogged = true;
    else if (!waiting) this.roundAppLimited = true;
  }

  acked(kcp: Kcp, bytes: number, deliveredAtSend: number, deliveredTimeAtSend: number, rtt: number, transmission: number, current: number): void {
    // A una covering segments whose own acks were lost releases them in one burst: no sample.
    if (rtt < 0) return;
    const sampleRtt = Math.max(1, rtt);
    this.firstRttAt ??= current;
    this.minRttFilter.add(sampleRtt, current);
    this.maxRttFilter.add(sampleRtt, current);
    if (transmission === 1) this.watchAlone(kcp, current - rtt, sampleRtt, current);
    if (sampleRtt < this.roundMinRtt) this.roundMinRtt = sampleRtt;
    // Share of delivered segments whose first copy was lost (not those a spurious timeout resent).
    const lost = transmission > 1 ? 1 : 0;
    this.lossRatio += (lost - this.lossRatio) / 64;
    if (this.lastRoundCalm) this.calmLossRatio += (lost - this.calmLossRatio) / 64;
    // Ack to ack, as TCP's rate sampling, so batching of acks per flush does not inflate the rate.
    const span = Math.max(seqDiff(current, deliveredTimeAtSend), rtt, kcp.interval);
    const raw = (kcp.delivered - deliveredAtSend) / span;
    if (raw > this.roundDelivery) this.roundDelivery = raw;
    this.addSample(raw, current);
    if (transmission === 1) this.trainSample(kcp, bytes, current - rtt, current);
  }

  /**
   * Per first transmission acked, in send order: a segment sent alone
   * queued behind nothing of ours, so its RTT above the minimum is the
   * path's own jitter. Alone: more than two flush intervals after the
   * segment before it, and later than that one's own wait above the
   * minimum RTT (whatever of our train queued with it had left the
   * bottleneck by the time this one came), with no queue standing. A frame
   * sent 33 ms after a keyframe that a 4 Mbit/s link drains in 98 ms waits
   * for it; counted as jitter, it kept the floor off and the keyframe's
   * tail was resent as lost (virtual link, 2 % loss: p99 234 -> 365 ms).
   */
  private watchAlone(kcp: Kcp, sentAt: number, rtt: number, current: number): void {
    const gap = this.lastAckedSentAt === undefined ? Infinity : seqDiff(sentAt, this.lastAckedSentAt);
    if (gap < 0) return;
    const queuedBefore = this.lastAckedRtt - this.minRtt;
    if (gap > TRAIN_GAP_INTERVALS * kcp.interval && gap > queuedBefore && this.queueDelay <= this.queueThreshold(this.minRtt) / 2) {
      this.aloneRttFilter.add(rtt, current);
    }
    this.lastAckedSentAt = sentAt;
    this.lastAckedRtt = rtt;
  }

  /**
   * Dispersion of a train: segments sent back to back (a keyframe leaving at
   * the pacing rate) come back spread by the narrowest link they crossed.
   * The bytes after the train's first segment over max(time between its
   * first and latest ack, time between their sends) is what the path
   * carried; never more than the rate they were sent at, so one train
   * raises the estimate by at most the pacing gain, and a narrower path
   * shows as acks spread wider than the sends. Batching of acks (once per
   * receiver flush) is why the acks must span two intervals first; the
   * first batch's bytes still count, so a sample can read up to 1.5x the
   * path's rate. For a keyframe that is extra probing, which a lossy wide
   * path rewards (left out, bench:weaknet's 20 % loss p99 went from ~330 to
   * ~460 ms); a bulk sender, whose probing is its cycle, uses its rounds.
   */
  private trainSample(kcp: Kcp, bytes: number, sentAt: number, current: number): void {
    // A bulk sender's rounds measure the path (advanceRound); its one endless train would not.
    if (this.backloggedRounds >= BULK_ROUNDS) return;
    const gap = this.trainFirstAckAt === undefined ? Infinity : seqDiff(sentAt, this.trainLastSentAt);
    if (gap < 0) return; // acked out of order (an earlier segment's ack was lost): not part of the spread
    if (gap > TRAIN_GAP_INTERVALS * kcp.interval) {
      this.trainFirstAckAt = current;
      this.trainFirstSentAt = this.trainLastSentAt = sentAt;
      this.trainBytes = 0;
      return;
    }
    this.trainLastSentAt = sentAt;
    this.trainBytes += bytes;
    const ackSpan = seqDiff(current, this.trainFirstAckAt!);
    if (ackSpan < TRAIN_MIN_ACK_INTERVALS * kcp.interval) return;
    this.addSample(this.trainBytes / Math.max(ackSpan, seqDiff(sentAt, this.trainFirstSentAt)), current);
  }

  /**
   * Loss to correct for and to leave headroom for: what the path loses when
   * we do not overdrive it. Loss that only comes with probing is a queue
   * overflowing: corrected for, it would raise the estimate by the loss, the
   * headroom the rate again, and the overflow would feed itself (on a 40
   * Mbit/s link with a 100-packet queue, the estimate reached 59 Mbit/s).
   */
  private randomLoss(): number {
    return Math.min(this.lossRatio, this.calmLossRatio);
  }

  private addSample(raw: number, current: number): void {
    const corrected = this.queueing ? raw : raw / (1 - Math.min(this.randomLoss(), MAX_LOSS_CORRECTION));
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
    // The round's own delivery rate, when data waited all round (on us, or on KCP's send and
    // receive windows): unlike a segment's ack-to-ack sample it spans several of the receiver's
    // ack batches, which on a short path (a few ms of RTT, acks sent once per flush interval) read low.
    const dataWaitedAllRound = !this.roundAppLimited && this.roundDataWaiting;
    if (dataWaitedAllRound) this.addSample((kcp.delivered - this.roundDeliveredStart) / elapsed, current);
    this.roundDeliveredStart = kcp.delivered;
    this.roundAppLimited = false;
    this.roundDataWaiting = false;
    this.bandwidth.rotate(current);
    this.minRttFilter.rotate(current);
    this.maxRttFilter.rotate(current);
    this.aloneRttFilter.rotate(current);

    // A round without acks (an idle sender) says nothing new: the queue state carries over.
    const roundMinRtt = this.roundMinRtt;
    if (Number.isFinite(roundMinRtt)) this.queueDelay = minRtt > 0 ? roundMinRtt - minRtt : 0;
    this.roundMinRtt = Infinity;
    const roundSentBytes = this.roundSentBytes;
    this.roundSentBytes = 0;
    this.sentRate += (roundSentBytes / elapsed - this.sentRate) * Math.min(1, elapsed / SENT_RATE_WINDOW_MS);
    const threshold = this.queueThreshold(minRtt);
    this.queueing = this.queueDelay > threshold;
    if (this.queueing) this.watchLongerPath(kcp, current, roundMinRtt, roundSentBytes, threshold);
    else this.episodeStart = undefined;
    this.queueRounds = this.queueing ? this.queueRounds + 1 : 0;
    const delivered = Math.max(this.roundDelivery, this.lastRoundDelivery);
    this.lastRoundDelivery = this.roundDelivery;
    this.roundDelivery = 0;
    const backlogged = this.roundBacklogged;
    this.roundBacklogged = false;
    if (this.startup) this.checkStartup(dataWaitedAllRound, threshold);
    this.watchOverflow(kcp, current, backlogged, delivered);
    this.lastRoundCalm = !backlogged || this.roundGain <= 1;
    this.backloggedRounds = dataWaitedAllRound ? this.backloggedRounds + 1 : 0;

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
      gain = 1;
    } else if (this.holdRounds > 0) {
      this.holdRounds--;
      gain = 1;
    } else if (this.backloggedRounds >= BULK_ROUNDS && !this.startup) {
      gain = BULK_CYCLE[this.cycleIndex++ % BULK_CYCLE.length]!;
    } else {
      // Probe softer as a queue builds: full 1.25x on an empty path, 1x at half the threshold.
      gain = 1 + (CRUISE_GAIN - 1) * Math.max(0, 1 - this.queueDelay / (threshold / 2));
    }
    this.roundGain = this.startup && !this.queueing ? STARTUP_GAIN : gain;
    // Headroom for retransmissions in proportion to the loss: a lossy link's repairs must not queue behind new data.
    const headroom = this.queueing ? 0 : Math.min(0.5, 2 * this.randomLoss());
    let rate = (gain + headroom) * this.estimate();
    if (this.startup) rate = Math.max(rate, (STARTUP_GAIN + headroom) * this.bandwidth.value);
    this.pacer.rateKbit = Math.min(this.maxBytesPerMs, Math.max(this.minBytesPerMs, rate)) * 8;
  }

  /**
   * Once per round: a queue too shallow to show in the RTT (less than half
   * the queue threshold: 100 packets at 40 Mbit/s are 28 ms) overflows
   * without a sign but loss. Random loss does not depend on our rate; an
   * overflow comes with probing. The round after a probe resends more than
   * the round after a calm one (paced at most at the estimate, or run dry):
   * the estimate falls to what was delivered (at most -30 %), startup ends,
   * and the rate holds at 1x for six rounds. Resends, not acked
   * retransmissions: a gap's repair is usually released by the una of the
   * ack that carries its own ack, so its echo is never read. Segments
   * resent, each once, not resends: ikcp resends a lost segment again on
   * every few later acks until its repair is acked, so a keyframe's round
   * (probing) counted several resends per loss where a small frame's round
   * (calm) counted one, and random loss with jitter read as overflows.
   */
  private watchOverflow(kcp: Kcp, current: number, backlogged: boolean, delivered: number): void {
    // This round's resends repair the last round's first sends.
    const firstSends = this.lastRoundFirstSends;
    this.lastRoundFirstSends = kcp.stats.segmentsSent - this.roundFirstSendsStart;
    this.roundFirstSendsStart = kcp.stats.segmentsSent;
    const resent = kcp.stats.segmentsRepaired - this.roundRepairedStart;
    this.roundRepairedStart += resent;
    if (firstSends < OVERFLOW_MIN_SEGMENTS) return;
    const share = Math.min(1, resent / firstSends);
    if (this.lastRoundCalm) {
      this.calmResendShare += (share - this.calmResendShare) / 8;
      this.calmRounds++;
      return;
    }
    this.probeResendShare += (share - this.probeResendShare) / 4;
    // Until calm rounds have shown the path's own loss, any loss would look like an overflow.
    if (this.calmRounds < OVERFLOW_MIN_CALM_ROUNDS || this.probeResendShare <= this.calmResendShare + OVERFLOW_MARGIN) return;
    this.overflows++;
    this.probeResendShare = this.calmResendShare;
    this.startup = false;
    this.initialFloor = false;
    this.holdRounds = OVERFLOW_HOLD_ROUNDS;
    const estimate = this.estimate();
    if (backlogged && delivered > 0 && delivered < estimate) this.bandwidth.reset(Math.max(delivered, (1 - MAX_ROUND_CUT) * estimate), current);
  }

  /**
   * Startup, as BBR's: a path that has carried more than the initial rate
   * is paced at twice what it has carried, so the estimate (train and
   * round samples, capped at the rate sent) doubles each round instead of
   * growing by the cruise gain: on a fast path a session reaches 80 Mbit/s
   * in ~4 rounds instead of ~12. The initial rate itself is not doubled
   * (a narrow link's first keyframes would overflow its queue before the
   * first RTTs show it). It ends for good at the first sign of a queue, or
   * when three rounds in which data waited all round (an application-limited
   * round says nothing of the path) grew the estimate by less than 25 %:
   * the pipe is full.
   */
  private checkStartup(dataWaitedAllRound: boolean, threshold: number): void {
    if (this.queueDelay > threshold / 2 || !this.initialFloor) {
      this.startup = false;
      return;
    }
    if (!dataWaitedAllRound) return;
    const measured = this.bandwidth.value;
    if (measured >= STARTUP_GROWTH * this.startupEstimate) {
      this.startupEstimate = measured;
      this.startupFlatRounds = 0;
    } else if (++this.startupFlatRounds >= STARTUP_FLAT_ROUNDS) {
      this.startup = false;
    }
  }

  /**
   * Called once per round while a queue seems to stand. Our own queue grows
   * (we overdrive) or shrinks (we drain at 0.8x); a longer path's RTT
   * stays flat, whatever we send. After LONGER_PATH_MS of rounds whose
   * smallest RTTs all lie within half the threshold of each other, with
   * at least LONGER_PATH_DELIVERED of what was sent delivered (a queue we
   * keep full drops the rest), the new RTT becomes the minimum, the queue
   * reading ends, and the estimate cut on its account comes back.
   */
  private watchLongerPath(kcp: Kcp, current: number, roundMinRtt: number, roundSentBytes: number, threshold: number): void {
    if (this.episodeStart === undefined) {
      this.episodeStart = current;
      this.episodeRounds = 1;
      this.episodeLowRtt = this.episodeHighRtt = this.queueDelay + this.minRtt;
      this.episodeSentBytes = 0;
      this.episodeDeliveredStart = kcp.delivered;
      this.episodeEstimateBefore = this.bandwidth.value;
      this.episodeInitialFloorBefore = this.initialFloor;
      return;
    }
    if (Number.isFinite(roundMinRtt)) {
      this.episodeLowRtt = Math.min(this.episodeLowRtt, roundMinRtt);
      this.episodeHighRtt = Math.max(this.episodeHighRtt, roundMinRtt);
    }
    this.episodeSentBytes += roundSentBytes;
    this.episodeRounds++;
    if (this.episodeHighRtt - this.episodeLowRtt > threshold / 2) {
      this.episodeStart = undefined; // it moved: a queue after all (a new episode starts next round)
      return;
    }
    if (this.episodeRounds < LONGER_PATH_MIN_ROUNDS || seqDiff(current, this.episodeStart) < LONGER_PATH_MS) return;
    if (kcp.delivered - this.episodeDeliveredStart < LONGER_PATH_DELIVERED * this.episodeSentBytes) return;
    this.longerPaths++;
    this.minRttFilter.reset(this.episodeLowRtt, current);
    this.queueing = false;
    this.queueDelay = 0;
    this.episodeStart = undefined;
    this.initialFloor = this.episodeInitialFloorBefore;
    if (this.episodeEstimateBefore > this.bandwidth.value) this.bandwidth.reset(this.episodeEstimateBefore, current);
  }
}
