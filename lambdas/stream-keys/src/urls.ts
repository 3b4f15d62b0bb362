import { hlsKeys } from '@bridgecast/contracts';

/**
 * The URLs handed out with a stream: where to publish (they carry the key,
 * so they only appear in the responses that reveal it) and where to watch
 * (by stream id only; the key is never part of a playback URL).
 */
export interface StreamUrlConfig {
  /** Host name publishers connect to (INGEST_HOST). */
  ingestHost: string;
  rtmpPort: number;
  kcpPort: number;
  /** Base of HLS URLs, e.g. https://cdn.example.com (HLS_BASE_URL). */
  hlsBaseUrl: string;
  /** Base of HTTP-FLV URLs (FLV_BASE_URL). */
  flvBaseUrl: string;
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');

export function ingestUrls(config: StreamUrlConfig, streamKey: string): { rtmp: string; kcp: string } {
  return {
    rtmp: `rtmp://${config.ingestHost}:${config.rtmpPort}/live/${streamKey}`,
    kcp: `kcp://${config.ingestHost}:${config.kcpPort}/live/${streamKey}`,
  };
}

export function playbackUrls(config: StreamUrlConfig, streamId: string): { hls: string; flv: string } {
  return {
    hls: `${trimSlash(config.hlsBaseUrl)}/${hlsKeys.livePlaylist(streamId)}`,
    flv: `${trimSlash(config.flvBaseUrl)}/live/${streamId}.flv`,
  };
}

export function recordingUrl(config: StreamUrlConfig, streamId: string, broadcastId: string): string {
  return `${trimSlash(config.hlsBaseUrl)}/${hlsKeys.vodPlaylist(streamId, broadcastId)}`;
}
