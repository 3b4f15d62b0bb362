/**
 * KCP tuning presets. A preset is plain data handed to `new Kcp(conv, output, tuning)`
 * or to the Node endpoint; reading it from an environment or a file is the
 * application's business.
 *
 * Live video is a fixed-rate stream that is useless when late, so every
 * choice below trades bandwidth and politeness for low, steady delay.
 */
export interface KcpTuning {
  /** Largest datagram (UDP payload), KCP header included. */
  mtu: number;
  /** Send window, in segments. */
  sndWnd: number;
  /** Receive window, in segments. */
  rcvWnd: number;
  /** Milliseconds between flushes. */
  interval: number;
  /** 0 normal, 1 no-delay, 2 no-delay with gentler RTO backoff (see Kcp.nodelay). */
  nodelay: number;
  /** Fast retransmit after this many acks of later segments; 0 disables it. */
  resend: number;
  /** true disables KCP's congestion window. */
  nc: boolean;
  /** Pacing cap in kbit/s (0: none); takes precedence over congestionControl. */
  maxKbit: number;
  /** 'live': LiveRateController paces by the measured path (see congestion.ts); 'none': ikcp's behaviour. */
  congestionControl: 'live' | 'none';
}

/**
 * MTU 1350: a 1500-byte Ethernet path loses 20 (IPv4) + 8 (UDP) bytes of
 * headers, and tunnels on the way (PPPoE 8, IPsec ~60-80, GRE/VXLAN 24-50,
 * IPv6 +20) eat more. 1350 + 28 = 1378 bytes on the wire leaves ~120 bytes for
 * them, so neither an NLB nor a VPN fragments our datagrams; a lost fragment
 * would lose the whole datagram. MSS = 1350 - 24 = 1326 bytes of payload.
 *
 * Windows, sized for the top of the range (8 Mbit/s at 200 ms RTT):
 *   8 Mbit/s = 1,000,000 B/s; x 0.2 s RTT = 200,000 B in flight;
 *   / 1326 B per segment = 151 segments (the bandwidth-delay product).
 * A lost segment holds the window's left edge until its retransmission is
 * acknowledged: fast retransmit fires about one RTT after the original and
 * the retransmission needs another RTT, so the window must cover ~2 RTT of
 * data plus headroom for a retransmission that is itself lost:
 *   2.5 x 151 = 378 -> sndWnd 384.
 * The receive window must be at least the sender's (the receiver drops
 * anything beyond rcv_nxt + rcvWnd) plus room for data the application has
 * not read yet: rcvWnd 512. That bounds a session's receive memory to
 * 512 x 1326 B = 664 KiB. At 1 Mbit/s the BDP is only 19 segments, so the
 * same windows never limit the lower bitrates.
 *
 * interval 10 ms: KCP sends acks and new data at each flush, so the interval
 * adds up to 10 ms to delivery and to measured RTT; one shared timer per
 * endpoint makes the 100 wake-ups a second cheap.
 *
 * nodelay 1: minimum RTO 30 ms instead of 100, and a timed-out segment's RTO
 * grows by x1.5 instead of x2, so a loss on a 200 ms path is repaired within
 * about one RTT rather than stalling the stream.
 *
 * resend 2: retransmit a segment as soon as two later segments are acked,
 * without waiting for its timer (fast retransmit, as TCP's triple dup-ack).
 *
 * nc (no congestion control): live video's rate is set by the encoder, not
 * by the transport. With the congestion window on, KCP halves its window on
 * every loss and collapses to one segment on a timeout; on a lossy
 * cross-border path (random loss, not congestion) that stalls the picture
 * exactly when it matters. With it off, KCP keeps sending at the encoder's
 * rate plus retransmissions, bounded by the windows above. The cost: on a
 * truly congested link we do not back off, so we add to the congestion and
 * take more than a fair share. For a bounded-rate stream that is the
 * accepted trade (kcptun's "fast" modes make the same one); adapting the
 * bitrate belongs to the encoder.
 * congestionControl 'live': the LiveRateController (congestion.ts) paces by
 * the path's measured delivery rate and min RTT, keeping nc's resistance to
 * random loss while no longer overdriving a narrow link (the retransmission
 * spiral described below); measured with bench:weaknet, see the
 * repository's docs/benchmarks.md. nc stays on: the controller, not ikcp's
 * loss-halved window, decides the rate.
 * maxKbit 0 (no fixed cap; a cap replaces the controller): a cap is a trade-off no default can make. Measured
 * with bench:weaknet (2.5 Mbit/s stream, 50 ms, 20 s cells): capped at
 * 3500 kbit/s (1.4x) a 4 Mbit/s bottleneck goes from 8.9 s to 0.64 s p99,
 * because keyframe bursts wait in our send buffer instead of overflowing
 * the router's queue and setting off a retransmission spiral; but 5% and
 * 10% random loss then need more than 1.4x for retransmissions and go from
 * ~0.2 s to 2.4 s and 6.5 s. At 2x (5000) the lossy links stay near 0.3 s
 * and the bottleneck is 4.8 s again. Set maxKbit to ~1.4x the top
 * bitrate for a link known to be narrow rather than lossy.
 */
export const DEFAULT_KCP_TUNING: Readonly<KcpTuning> = Object.freeze({
  mtu: 1350,
  sndWnd: 384,
  rcvWnd: 512,
  interval: 10,
  nodelay: 1,
  resend: 2,
  nc: true,
  maxKbit: 0,
  congestionControl: 'live',
});

/**
 * ikcp's documented modes, as tunings: `normal` is ikcp_nodelay(kcp, 0, 40,
 * 0, 0) with ikcp's default windows and MTU (TCP-like: congestion window on,
 * RTO doubling); `fast` is ikcp's "turbo" ikcp_nodelay(kcp, 1, 10, 2, 1);
 * `liveVideo` is DEFAULT_KCP_TUNING (above: windows sized for 8 Mbit/s at
 * 200 ms, MTU that survives tunnels).
 */
export const KCP_TUNING_PRESETS: Readonly<Record<'normal' | 'fast' | 'liveVideo', Readonly<KcpTuning>>> = Object.freeze({
  normal: Object.freeze({ mtu: 1400, sndWnd: 32, rcvWnd: 128, interval: 40, nodelay: 0, resend: 0, nc: false, maxKbit: 0, congestionControl: 'none' }),
  fast: Object.freeze({ mtu: 1400, sndWnd: 32, rcvWnd: 128, interval: 10, nodelay: 1, resend: 2, nc: true, maxKbit: 0, congestionControl: 'none' }),
  liveVideo: DEFAULT_KCP_TUNING,
});
