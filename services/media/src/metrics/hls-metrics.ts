import { Counter, Gauge, type Registry } from 'prom-client';
import type { HlsAttachment } from '../hls/hls-writer.js';

/** Prometheus view of the HLS writer, read from its own counters when scraped. */
export function registerHlsMetrics(hls: HlsAttachment): (registry: Registry) => void {
  return (registry) => {
    const registers = [registry];
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    counter('bridgecast_hls_segments_written_total', 'HLS segments stored', () => hls.stats().segmentsWritten);
    counter('bridgecast_hls_bytes_written_total', 'HLS segment bytes stored', () => hls.stats().bytesWritten);
    counter('bridgecast_hls_segments_dropped_total', 'HLS segments dropped because storage was too far behind', () => hls.stats().segmentsDropped);
    counter('bridgecast_hls_write_errors_total', 'Failed HLS object writes', () => hls.stats().writeErrors);
    new Gauge({ name: 'bridgecast_hls_queued_bytes', help: 'HLS bytes waiting for storage', registers, collect() { this.set(hls.stats().queuedBytes); } });
  };
}
