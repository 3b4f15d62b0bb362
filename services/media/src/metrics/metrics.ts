import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { StreamHub } from '../hub/stream-hub.js';

/**
 * Prometheus metrics of one media service process. Gauges that describe the
 * hub (publishers, viewers, bit rates) are computed when scraped, so the
 * media path never updates them; counters are incremented where things
 * happen (refusals, drops, protocol errors).
 */
export class MediaMetrics {
  readonly registry = new Registry();
  readonly connectionsRefused: Counter<'transport' | 'reason'>;
  readonly protocolErrors: Counter<'transport'>;
  readonly publishRefused: Counter<'code'>;
  readonly viewerPacketsDropped: Counter<'protocol'>;
  readonly egressBytes: Counter<'protocol'>;

  constructor(hub: StreamHub, extraCollectors: Array<(registry: Registry) => void> = []) {
    collectDefaultMetrics({ register: this.registry, prefix: 'bridgecast_process_' });
    const registers = [this.registry];
    this.connectionsRefused = new Counter({ name: 'bridgecast_connections_refused_total', help: 'Connections refused by a limit', labelNames: ['transport', 'reason'], registers });
    this.protocolErrors = new Counter({ name: 'bridgecast_protocol_errors_total', help: 'Connections closed for a protocol violation', labelNames: ['transport'], registers });
    this.publishRefused = new Counter({ name: 'bridgecast_publish_refused_total', help: 'Publish attempts refused', labelNames: ['code'], registers });
    this.viewerPacketsDropped = new Counter({ name: 'bridgecast_viewer_packets_dropped_total', help: 'Media packets skipped for viewers that fell behind', labelNames: ['protocol'], registers });
    this.egressBytes = new Counter({ name: 'bridgecast_egress_bytes_total', help: 'Media bytes written to viewers', labelNames: ['protocol'], registers });
    new Gauge({
      name: 'bridgecast_publishers', help: 'Live streams being published', labelNames: ['transport'], registers,
      collect() {
        this.reset();
        for (const s of hub.list()) this.inc({ transport: s.publisher.protocol });
      },
    });
    new Gauge({
      name: 'bridgecast_viewers', help: 'Viewers attached to live streams', labelNames: ['protocol'], registers,
      collect() {
        this.reset();
        for (const s of hub.list()) {
          for (const [protocol, n] of Object.entries(s.subscribersByProtocol())) this.inc({ protocol }, n);
        }
      },
    });
    new Gauge({
      name: 'bridgecast_ingest_bits_per_second', help: 'Sum of the publishers\' bit rates', registers,
      collect() {
        this.set(hub.list().reduce((sum, s) => sum + s.ingest.bitsPerSecond(), 0));
      },
    });
    for (const add of extraCollectors) add(this.registry);
  }
}
