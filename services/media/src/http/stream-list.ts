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

export type LiveStreamDescription = ReturnType<typeof describeLiveStream>;
