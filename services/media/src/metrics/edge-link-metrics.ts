import { Counter, Gauge, type Registry } from 'prom-client';
import type { EdgeLinkRecord } from '../edge/link-record.js';

/** Per-link gauges: name, help, the record's field. Labelled edge, stream (app/name) and side (origin: measured by the sender, edge: by the receiver). */
const LINK_GAUGES: [string, string, keyof EdgeLinkRecord][] = [
  ['bridgecast_edge_link_rtt_ms', 'Smoothed KCP RTT of an origin-edge link, ms (the origin side\'s is the reliable one)', 'rttMs'],
  ['bridgecast_edge_link_loss_ratio', 'Share of the media\'s KCP segments whose first copy did not reach the edge (resent or rebuilt by FEC), last 2 s', 'lossRatio'],
  ['bridgecast_edge_link_retransmit_ratio', 'KCP segments the origin sent again per segment sent, last 2 s', 'retransmitRatio'],
  ['bridgecast_edge_link_fec_recovered', 'Datagrams rebuilt from FEC parity on this side since the link opened', 'fecRecovered'],
  ['bridgecast_edge_link_media_delay_ms', 'Delay of the media across the hop, origin arrival to edge arrival, least-delayed media of the last 2-4 s (needs synchronized clocks)', 'mediaDelayMs'],
  ['bridgecast_edge_link_media_delay_max_ms', 'The same for the most-delayed media of the last 2-4 s', 'mediaDelayMaxMs'],
  ['bridgecast_edge_link_queue_bytes', 'Bytes the origin has queued or in flight towards the edge', 'queueBytes'],
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
    for (const [name, help, field] of LINK_GAUGES) {
      new Gauge({
        name, help, labelNames: ['edge', 'stream', 'side'], registers,
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
