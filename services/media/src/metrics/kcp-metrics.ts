import { Counter, Gauge, type Registry } from 'prom-client';
import type { KcpServerEndpoint } from 'kcp-ts/node';
import { kcpLinkStats, type KcpLinkStats } from '../kcp-link-stats.js';

/** Per-session gauges: name, help, and the field of KcpLinkStats. Labelled by the peer's address:port (bounded by the session limit). */
const SESSION_GAUGES: [string, string, keyof KcpLinkStats][] = [
  ['bridgecast_kcp_session_bandwidth_kbit', 'Estimated bottleneck rate of a KCP session (congestion controller)', 'bandwidthKbit'],
  ['bridgecast_kcp_session_min_rtt_ms', 'Minimum RTT of a KCP session over the last 5-10 s', 'minRttMs'],
  ['bridgecast_kcp_session_srtt_ms', 'Smoothed RTT of a KCP session', 'srttMs'],
  ['bridgecast_kcp_session_pacing_kbit', 'Pacing rate of a KCP session', 'pacingKbit'],
  ['bridgecast_kcp_session_inflight_bytes', 'Bytes sent and not yet acknowledged by a KCP session', 'inflightBytes'],
  ['bridgecast_kcp_session_queue_bytes', 'Bytes waiting in a KCP session\'s send path (writer + KCP queue + flight)', 'queueBytes'],
  ['bridgecast_kcp_session_queue_age_ms', 'Age of the oldest media waiting in a KCP session\'s send queue', 'queueAgeMs'],
  ['bridgecast_kcp_session_late_dropped_frames', 'Frames a KCP session dropped for lateness (live deadline)', 'lateDroppedFrames'],
  ['bridgecast_kcp_session_path_changes', 'Times a KCP session\'s congestion controller took a standing RTT rise for a longer path (route change)', 'pathChanges'],
];

/** Retransmissions per first transmission, and the mean smoothed RTT, over the live sessions. */
export interface KcpHealth {
  retransmitRatio: number;
  rttMs: number;
  sessions: number;
}

export function kcpHealth(endpoint: KcpServerEndpoint): KcpHealth {
  const totals = endpoint.kcpTotals();
  const retransmits = totals.timeoutRetransmits + totals.fastRetransmits;
  let rttSum = 0;
  let measured = 0;
  for (const stream of endpoint.streams()) {
    if (stream.kcp.srtt > 0) {
      rttSum += stream.kcp.srtt;
      measured++;
    }
  }
  return {
    retransmitRatio: totals.segmentsSent > 0 ? retransmits / totals.segmentsSent : 0,
    rttMs: measured > 0 ? rttSum / measured : 0,
    sessions: endpoint.sessionCount,
  };
}

/**
 * Prometheus view of the KCP endpoint. Values are read from the endpoint's
 * own counters when scraped (the packet path never touches prom-client);
 * counters are set to the running totals, which only grow.
 */
export function registerKcpMetrics(endpoint: KcpServerEndpoint): (registry: Registry) => void {
  return (registry) => {
    const registers = [registry];
    new Gauge({
      name: 'bridgecast_kcp_sessions', help: 'Open KCP sessions', registers,
      collect() { this.set(endpoint.sessionCount); },
    });
    new Gauge({
      name: 'bridgecast_kcp_rtt_ms', help: 'Mean smoothed RTT of open KCP sessions', registers,
      collect() { this.set(kcpHealth(endpoint).rttMs); },
    });
    for (const [name, help, field] of SESSION_GAUGES) {
      new Gauge({
        name, help, labelNames: ['session'], registers,
        collect() {
          this.reset();
          for (const stream of endpoint.streams()) this.set({ session: `${stream.remoteAddress}:${stream.remotePort}` }, kcpLinkStats(stream)[field]);
        },
      });
    }
    new Counter({
      name: 'bridgecast_kcp_segments_total', help: 'KCP data segments by kind of transmission', labelNames: ['kind'], registers,
      collect() {
        const totals = endpoint.kcpTotals();
        this.reset();
        this.inc({ kind: 'first' }, totals.segmentsSent);
        this.inc({ kind: 'timeout_retransmit' }, totals.timeoutRetransmits);
        this.inc({ kind: 'fast_retransmit' }, totals.fastRetransmits);
      },
    });
    new Counter({
      // ikcp resends a lost segment on every few later acks until its repair is acked, so the
      // retransmissions above overstate loss; this counts each segment that needed any, once.
      name: 'bridgecast_kcp_segments_repaired_total', help: 'KCP data segments sent more than once, each counted once (per first transmission: the loss the sender saw)', registers,
      collect() { this.reset(); this.inc(endpoint.kcpTotals().segmentsRepaired); },
    });
    new Counter({
      name: 'bridgecast_kcp_datagrams_dropped_total', help: 'UDP datagrams dropped before reaching a KCP session', labelNames: ['reason'], registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(endpoint.stats.dropped)) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'bridgecast_kcp_amplification_dropped_total', help: 'Datagrams to unverified addresses dropped by the anti-amplification limit', registers,
      collect() { this.reset(); this.inc(endpoint.stats.amplificationDropped); },
    });
  };
}
