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
  /** Base of HTTP-FLV URLs (FLV_BASE_URL; https:// when the load balancer terminates TLS). */
  flvBaseUrl: string;
  /** RTMPS port on ingestHost (RTMPS_PORT), when TLS is offered. */
  rtmpsPort?: number;
  /**
   * FEC of the KCP port as `<data>:<parity>` (from KCP_FEC), when it is on:
   * a KCP session without the same FEC never connects, so every kcp:// URL
   * handed out says it (`?fec=10:3`, which kcp-push / kcp-pull / the client read).
   */
  kcpFec?: string;
}

/** `KCP_FEC` as the service reads it (`10,3`, or `off` / unset) to the URL form `10:3`; undefined when off. */
export function kcpFecUrlValue(setting: string | undefined): string | undefined {
  const value = setting?.trim();
  if (!value || value === 'off') return undefined;
  const match = /^(\d{1,3}),(\d{1,3})$/.exec(value);
  if (!match) throw new Error(`KCP_FEC must be "<data>,<parity>" such as "10,3", or "off"; got "${value}"`);
  return `${match[1]}:${match[2]}`;
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');

export function ingestUrls(config: StreamUrlConfig, streamKey: string): { rtmp: string; rtmps?: string; kcp: string } {
  return {
    rtmp: `rtmp://${config.ingestHost}:${config.rtmpPort}/live/${streamKey}`,
    ...(config.rtmpsPort ? { rtmps: `rtmps://${config.ingestHost}:${config.rtmpsPort}/live/${streamKey}` } : {}),
    // The key in a KCP URL is for the bridges and the client API, which send a publish proof instead of it.
    kcp: kcpUrl(config, `live/${streamKey}`, ''),
  };
}

/** A kcp:// URL on the ingest host; `query` is '' or `?name=value...`, to which the port's FEC is added. */
function kcpUrl(config: StreamUrlConfig, path: string, query: string): string {
  const fec = config.kcpFec ? `${query ? '&' : '?'}fec=${config.kcpFec}` : '';
  return `kcp://${config.ingestHost}:${config.kcpPort}/${path}${query}${fec}`;
}

/** Where a holder of a play token watches: each URL carries the token (the HLS URL relies on the cookies instead). */
export function credentialedPlayUrls(config: StreamUrlConfig, streamId: string, token: string): { hls: string; flv: string; rtmp: string; kcp: string } {
  const query = `?token=${encodeURIComponent(token)}`;
  const { hls, flv } = playbackUrls(config, streamId);
  const rtmp = config.rtmpsPort ? `rtmps://${config.ingestHost}:${config.rtmpsPort}` : `rtmp://${config.ingestHost}:${config.rtmpPort}`;
  return { hls, flv: `${flv}${query}`, rtmp: `${rtmp}/live/${streamId}${query}`, kcp: kcpUrl(config, `live/${streamId}`, query) };
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
