import { Counter, Gauge, type Registry } from 'prom-client';
import type { HlsAttachment } from '../hls/hls-writer.js';
import type { ObjectStore } from '../storage/object-store.js';
import { S3ObjectStore } from '../storage/s3-object-store.js';

/** Prometheus view of the HLS writer, read from its own counters when scraped. */
export function registerHlsMetrics(hls: HlsAttachment, store: ObjectStore): (registry: Registry) => void {
  return (registry) => {
    const registers = [registry];
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    counter('bridgecast_hls_segments_written_total', 'HLS segments stored', () => hls.stats().segmentsWritten);
    counter('bridgecast_hls_bytes_written_total', 'HLS segment bytes stored', () => hls.stats().bytesWritten);
    counter('bridgecast_hls_segments_dropped_total', 'HLS segments dropped because storage was too far behind', () => hls.stats().segmentsDropped);
    counter('bridgecast_hls_write_errors_total', 'Failed HLS object writes', () => hls.stats().writeErrors);
    counter('bridgecast_hls_segments_cut_at_cap_total', 'HLS segments cut without a keyframe at the duration or size cap', () => hls.stats().segmentsCutAtCap);
    new Gauge({ name: 'bridgecast_hls_queued_bytes', help: 'HLS bytes waiting for storage', registers, collect() { this.set(hls.stats().queuedBytes); } });
    if (store instanceof S3ObjectStore) {
      counter('bridgecast_s3_uploads_total', 'Objects uploaded to S3', () => store.counters.uploaded);
      counter('bridgecast_s3_upload_retries_total', 'Failed S3 uploads retried', () => store.counters.retries);
      counter('bridgecast_s3_objects_refused_total', 'Objects not kept because the upload spool was full', () => store.counters.refused);
      counter('bridgecast_s3_objects_failed_total', "Objects S3 refused for good (kept in the spool's failed/ folder up to its bound)", () => store.counters.failed);
      counter('bridgecast_s3_failed_discarded_total', "Objects S3 refused for good and deleted because the spool's failed/ folder was full", () => store.counters.failedDiscarded);
      counter('bridgecast_s3_playlists_dropped_total', 'Pending playlists dropped from a full spool (a newer one follows)', () => store.spool.droppedPlaylists);
      new Gauge({ name: 'bridgecast_s3_spool_bytes', help: 'Bytes waiting in the upload spool', registers, collect() { this.set(store.spool.bytes); } });
    }
  };
}
