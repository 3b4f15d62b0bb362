import type { LiveLease } from '../cluster/lease.js';
import type { LiveStream } from '../hub/live-stream.js';

/** A live stream as operators see it (the keys API's list, /api/live: loopback or API_TOKEN callers only). */
export function describeLiveStream(s: LiveStream, now = Date.now()) {
  const video = s.videoSequenceHeader?.video;
  const audio = s.audioSequenceHeader?.audio;
  const viewersByProtocol = s.viewersByProtocol();
  return {
    app: s.app,
    name: s.name,
    publisher: { protocol: s.publisher.protocol, address: s.publisher.remoteAddress },
    video: video ? {
      codec: video.codec,
      width: s.metadataInfo.width ?? null,
      height: s.metadataInfo.height ?? null,
      framerate: s.metadataInfo.framerate ?? null,
    } : null,
    audio: audio ? { codec: audio.codec } : null,
    bitrateKbps: Math.round(s.ingest.bitsPerSecond() / 1000),
    viewers: { total: Object.values(viewersByProtocol).reduce((a, b) => a + b, 0), byProtocol: viewersByProtocol },
    uptimeSeconds: Math.round((now - s.startedAt) / 1000),
    startedAt: new Date(s.startedAt).toISOString(),
  };
}

/**
 * A live stream of the cluster, from its lease: the task that has it
 * (its id and private address), and what this task knows of it. Its owner
 * knows everything; a task pulling it knows the media and its own viewers;
 * any other task only that it is live.
 */
export function describeClusterStream(lease: LiveLease, local: LiveStream | undefined, now = Date.now()) {
  const task = { id: lease.owner, address: lease.address };
  if (local) return { ...describeLiveStream(local, now), task };
  return {
    app: lease.app, name: lease.name, publisher: { protocol: null, address: null },
    video: null, audio: null, bitrateKbps: null, viewers: null, uptimeSeconds: null, startedAt: null, task,
  };
}

export type LiveStreamDescription = ReturnType<typeof describeLiveStream> | ReturnType<typeof describeClusterStream>;

