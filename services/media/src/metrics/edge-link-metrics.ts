import { Counter, Gauge, type Registry } from 'prom-client';
import type { EdgeLinkRecord } from '../edge/link-record.js';

/**
 * The figures of an origin-edge link (edge/link-record.ts), with their
 * Prometheus gauge (labelled edge, stream = app/name, side: origin =
 * measured by the sender, edge = by the receiver) and their CloudWatch name.
 */
export const LINK_FIGURES: { field: keyof EdgeLinkRecord; gauge: string; help: string; emf: string; unit: string }[] = [
  { field: 'rttMs', gauge: 'bridgecast_edge_link_rtt_ms', help: 'Smoothed KCP RTT of an origin-edge link, ms (the origin side\'s is the reliable one)', emf: 'EdgeLinkRttMs', unit: 'Milliseconds' },
  { field: 'lossRatio', gauge: 'bridgecast_edge_link_loss_ratio', help: 'Share of the media\'s KCP segments whose first copy did not reach the edge (resent or rebuilt by FEC), last 2 s', emf: 'EdgeLinkLossRatio', unit: 'None' },
  { field: 'retransmitRatio', gauge: 'bridgecast_edge_link_retransmit_ratio', help: 'KCP segments the origin sent again per segment sent, last 2 s', emf: 'EdgeLinkRetransmitRatio', unit: 'None' },
  { field: 'fecRecovered', gauge: 'bridgecast_edge_link_fec_recovered', help: 'Datagrams rebuilt from FEC parity on this side since the link opened', emf: 'EdgeLinkFecRecovered', unit: 'Count' },
  { field: 'mediaDelayMs', gauge: 'bridgecast_edge_link_media_delay_ms', help: 'Delay of the media across the hop, origin arrival to edge arrival, least-delayed media of the last 2-4 s (needs synchronized clocks)', emf: 'EdgeLinkMediaDelayMs', unit: 'Milliseconds' },
  { field: 'mediaDelayMaxMs', gauge: 'bridgecast_edge_link_media_delay_max_ms', help: 'The same for the most-delayed media of the last 2-4 s', emf: 'EdgeLinkMediaDelayMaxMs', unit: 'Milliseconds' },
  { field: 'queueBytes', gauge: 'bridgecast_edge_link_queue_bytes', help: 'Bytes the origin has queued or in flight towards the edge', emf: 'EdgeLinkQueueBytes', unit: 'Bytes' },
];

const STATES = ['up', 'behind', 'down'] as const;

export interface EdgeLinkMetricSources {
  /** The links this task holds, as last measured (origin side: links it serves; edge side: links it pulls, and their origin-side figures). */
  links(): EdgeLinkRecord[];
  /** Relay listings refused here by reason (origin side). */
  listRefusals: ReadonlyMap<string, number>;
  /** Listings this edge could not get from the origin (undefined: not an edge). */
  listingFailures(): number | undefined;
}

/** Prometheus view of the origin-edge links; read from the last measurement when scraped. */
export function registerEdgeLinkMetrics(sources: EdgeLinkMetricSources): (registry: Registry) => void {
  return (registry) => {
    const registers = [registry];
    const labels = (r: EdgeLinkRecord) => ({ edge: r.edge, stream: `${r.app}/${r.name}`, side: r.side });
    for (const { field, gauge, help } of LINK_FIGURES) {
      new Gauge({
        name: gauge, help, labelNames: ['edge', 'stream', 'side'], registers,
        collect() {
          this.reset();
          for (const r of sources.links()) {
            const value = r[field];
            if (typeof value === 'number') this.set(labels(r), value);
          }
        },
      });
    }
    new Gauge({
      name: 'bridgecast_edge_link_state', help: 'State of an origin-edge link as this side sees it: 1 for the current state (up, behind, down)', labelNames: ['edge', 'stream', 'side', 'state'], registers,
      collect() {
        this.reset();
        for (const r of sources.links()) for (const state of STATES) this.set({ ...labels(r), state }, r.state === state ? 1 : 0);
      },
    });
    new Counter({
      name: 'bridgecast_relay_list_refused_total', help: 'Relay listing requests (/api/relay/live) refused: missing, malformed, expired or bad signature', labelNames: ['reason'], registers,
      collect() {
        this.reset();
        for (const [reason, n] of sources.listRefusals) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'bridgecast_edge_listing_failures_total', help: 'Listings this edge could not get from the origin (unreachable, refused)', registers,
      collect() {
        this.reset();
        this.inc(sources.listingFailures() ?? 0);
      },
    });
  };
}
