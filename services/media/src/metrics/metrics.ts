import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { EgressMeters } from '../hub/egress-meter.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { RtmpSessionManager } from '../rtmp/rtmp-server.js';

/** What the metrics read from; every value is computed when scraped. */
export interface MetricSources {
  hub: StreamHub;
  egress: EgressMeters;
  rtmp: RtmpSessionManager;
  /** Refused private-playback requests by reason (PlaybackAccess.refusals). */
  playbackRefusals?: ReadonlyMap<string, number>;
}

/**
 * Prometheus metrics of one media service process. Everything that happens
 * on the media path (bytes, drops, refusals) is already counted in plain
 * fields by the code doing it; the gauges and counters here read those
 * when scraped, so no packet ever touches prom-client.
 */
export class MediaMetrics {
  readonly registry = new Registry();
  readonly publishRefused: Counter<'code'>;

  constructor({ hub, egress, rtmp, playbackRefusals }: MetricSources, extraCollectors: Array<(registry: Registry) => void> = []) {
    collectDefaultMetrics({ register: this.registry, prefix: 'bridgecast_process_' });
    const registers = [this.registry];
    this.publishRefused = new Counter({ name: 'bridgecast_publish_refused_total', help: 'Publish attempts refused, by reason code', labelNames: ['code'], registers });
    new Counter({
      name: 'bridgecast_connections_refused_total', help: 'RTMP/KCP sessions refused by a connection limit', registers,
      collect() { this.reset(); this.inc(rtmp.counters.refused); },
    });
    new Counter({
      name: 'bridgecast_protocol_errors_total', help: 'RTMP/KCP sessions closed for a protocol violation', registers,
      collect() { this.reset(); this.inc(rtmp.counters.protocolErrors); },
    });
    new Counter({
      name: 'bridgecast_playback_refused_total', help: 'Private-stream plays refused (missing, expired, wrong stream or address, bad signature...)', labelNames: ['reason'], registers,
      collect() {
        this.reset();
        for (const [reason, n] of playbackRefusals ?? []) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'bridgecast_egress_bytes_total', help: 'Media bytes written to viewers', labelNames: ['protocol'], registers,
      collect() {
        this.reset();
        for (const [protocol, meter] of egress.entries()) this.inc({ protocol }, meter.total);
      },
    });
    new Counter({
      name: 'bridgecast_viewer_packets_dropped_total', help: 'Media packets skipped for viewers that fell behind', labelNames: ['protocol'], registers,
      collect() {
        this.reset();
        for (const [protocol, meter] of egress.entries()) this.inc({ protocol }, meter.droppedPackets);
      },
    });
    new Counter({
      name: 'bridgecast_viewers_disconnected_total', help: 'Viewers cut off because their backlog passed twice VIEWER_BACKLOG_BYTES', labelNames: ['protocol'], registers,
      collect() {
        this.reset();
        for (const [protocol, meter] of egress.entries()) this.inc({ protocol }, meter.disconnectedViewers);
      },
    });
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
          for (const [protocol, n] of Object.entries(s.viewersByProtocol())) this.inc({ protocol }, n);
        }
      },
    });
    new Gauge({
      name: 'bridgecast_ingest_bits_per_second', help: 'Sum of the publishers\' bit rates', registers,
      collect() { this.set(hub.list().reduce((sum, s) => sum + s.ingest.bitsPerSecond(), 0)); },
    });
    new Gauge({
      name: 'bridgecast_egress_bits_per_second', help: 'Bit rate written to viewers, by protocol', labelNames: ['protocol'], registers,
      collect() {
        this.reset();
        for (const [protocol, meter] of egress.entries()) this.set({ protocol }, meter.bitsPerSecond());
      },
    });
    for (const add of extraCollectors) add(this.registry);
  }
}
