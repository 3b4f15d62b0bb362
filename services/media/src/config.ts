import path from 'node:path';
import { checkedSetting, ConfigError } from './config-error.js';
import { httpUrlSetting as httpUrl, intSetting as int, oneOfSetting as oneOf } from './env-settings.js';
import { loadEdgeConfig, type EdgeConfig } from './edge/edge-config.js';
import { loadKcpSettings, type KcpSettings } from './kcp-config.js';
import { loadLimits, type ServiceLimits } from './limits.js';
import { loadRelayConfig, type RelayConfig } from './relay/relay-config.js';

/**
 * Configuration of the media service, from the environment: the one place
 * the service reads it (loadConfig), handing plain values to the components.
 * Every setting
 * has a default that works on a laptop; the cloud deployment overrides a
 * few (HLS_BUCKET, STREAMS_TABLE, ...). See the README's configuration table.
 */
export interface MediaConfig {
  host: string;
  rtmpPort: number;
  kcpPort: number;
  httpPort: number;
  dataDir: string;
  logLevel: string;
  /** RTMP applications served (RTMP_APPS, default `live`): a connect to any other is refused. HLS is written for `live`. */
  apps: string[];
  /** `keys`: publishing needs a stream key; `none`: any name may publish (tests, trusted networks). */
  auth: 'keys' | 'none';
  /** DynamoDB table of stream keys; unset runs an embedded DynamoDB-compatible store under dataDir. */
  streamsTable: string | undefined;
  /** S3 bucket for HLS; unset writes HLS under dataDir. */
  hlsBucket: string | undefined;
  hlsPrefix: string;
  /** S3-compatible endpoint instead of AWS S3 (MinIO, s3rver); path-style addressing. */
  s3Endpoint: string | undefined;
  /** Bytes of HLS objects kept on local disk while S3 is slow or unreachable. */
  hlsSpoolBytes: number;
  awsRegion: string;
  /** Set to false to serve no HLS at all (RTMP/FLV only). */
  hlsEnabled: boolean;
  hlsSegmentSeconds: number;
  hlsWindow: number;
  /**
   * Public keys that sign private streams' playback credentials, JSON
   * `{"<Key-Pair-Id>": "<PEM>"}` (PLAYBACK_PUBLIC_KEYS; the CloudFront key
   * group's keys in AWS). Locally the server adds its own generated key.
   */
  playbackPublicKeys: string | undefined;
  /** Origins of the app's pages allowed credentialed CORS on HLS and HTTP-FLV (PLAYBACK_ORIGINS, comma-separated). */
  playbackOrigins: string[];
  /** TLS certificate and key (PEM paths): enable RTMPS on rtmpsPort and HTTPS on httpsPort. */
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  rtmpsPort: number;
  httpsPort: number;
  /** Local recordings (DATA_DIR/hls/recordings) are pruned, oldest ended broadcast first, above this many bytes (0: no bound). */
  recordingsMaxBytes: number;
  /** ... and once ended more than this many days ago (0: no age limit). */
  recordingsMaxDays: number;
  /** Secret for signed play tokens; unset means playback is public. */
  playTokenSecret: string | undefined;
  /** Bearer token for the local stream-keys API from non-loopback clients. */
  apiToken: string | undefined;
  /** Bytes a viewer may have queued before it skips to the next keyframe. */
  viewerBacklogBytes: number;
  /** Milliseconds a viewer's packets are collected into one socket write (0: write each at once). */
  writeMergeMs: number;
  /** Seconds to wait for publishers to finish on SIGTERM before cutting them off. */
  drainSeconds: number;
  metricsNamespace: string;
  /** ServiceName dimension of the EMF metrics (METRICS_SERVICE_NAME); unset: the ECS task metadata's ServiceName. */
  metricsServiceName: string | undefined;
  /** Print CloudWatch embedded-metric-format lines every minute (EMF; on by default on ECS). */
  emfEnabled: boolean;
  /** ECS agent endpoint (ECS_AGENT_URI): enables task scale-in protection while publishers are live. */
  ecsAgentUri: string | undefined;
  /** ECS task metadata endpoint v4 (ECS_CONTAINER_METADATA_URI_V4): names the task in metrics. */
  ecsMetadataUri: string | undefined;
  /** Host name handed out in ingest URLs. */
  publicHost: string;
  hlsBaseUrl: string | undefined;
  flvBaseUrl: string | undefined;
  /** Enables the KCP (UDP) endpoint. */
  kcpEnabled: boolean;
  /** KCP tuning and FEC (KCP_*), for the endpoint and for kcp:// relay links. */
  kcp: KcpSettings;
  /** Relays: origin to pull from, push targets, shared secret (RELAY_*, SERVER_ID). */
  relay: RelayConfig;
  /**
   * The address other tasks reach this one at (CLUSTER_ADDRESS); unset in
   * ECS, where the task metadata endpoint names it. Used only with a shared
   * registry (STREAMS_TABLE), i.e. in a cluster.
   */
  clusterAddress: string | undefined;
  /** Connection, session, size and timeout limits (see limits.ts). */
  limits: ServiceLimits;
  /** Edge mode (EDGE_ORIGIN, EDGE_ORIGIN_API, EDGE_MODE, EDGE_NAME); undefined on an origin. */
  edge: EdgeConfig | undefined;
}

/** A TCP/UDP port; 0 lets the system choose (tests). */
const port = (env: NodeJS.ProcessEnv, name: string, fallback: number) => int(env, name, fallback, 0, 65535);

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, env[name]!, 'true or false (also 1/0, yes/no, on/off)');
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const APP_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function appList(env: NodeJS.ProcessEnv): string[] {
  const raw = env.RTMP_APPS;
  if (raw === undefined || raw.trim() === '') return ['live'];
  const apps = raw.split(',').map((a) => a.trim());
  if (!apps.every((a) => APP_NAME.test(a))) throw new ConfigError('RTMP_APPS', raw, 'comma-separated application names of letters, digits, "_" and "-"');
  return apps;
}

/** 10 GiB: about nine hours of a 2.5 Mbit/s stream. */
export const DEFAULT_RECORDINGS_MAX_BYTES = 10 * 1024 ** 3;

/** An origin as browsers send it (`https://app.example.com[:port]`); anything else is a configuration error. */
function origin(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || url.origin === 'null' || url.origin !== raw.replace(/\/$/, '')) throw new ConfigError('PLAYBACK_ORIGINS', raw, 'origins like https://app.example.com, comma-separated');
  return url.origin;
}

function tlsFiles(env: NodeJS.ProcessEnv): { tlsCertFile: string | undefined; tlsKeyFile: string | undefined } {
  const tlsCertFile = env.TLS_CERT_FILE || undefined;
  const tlsKeyFile = env.TLS_KEY_FILE || undefined;
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    throw new ConfigError(tlsCertFile === undefined ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', tlsCertFile ?? tlsKeyFile ?? '', 'set together with the other of TLS_CERT_FILE and TLS_KEY_FILE');
  }
  return { tlsCertFile, tlsKeyFile };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): MediaConfig {
  // Parsed by their own modules (their messages name the variable and value); a refusal is a StartupError too.
  const kcp = checkedSetting(() => loadKcpSettings(env));
  const relay = checkedSetting(() => loadRelayConfig(env, { fec: kcp.fec }));
  return {
    host: env.HOST || '0.0.0.0',
    rtmpPort: port(env, 'RTMP_PORT', 1935),
    kcpPort: port(env, 'KCP_PORT', 1935),
    httpPort: port(env, 'HTTP_PORT', 8080),
    dataDir: path.resolve(env.DATA_DIR || './data'),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    apps: appList(env),
    auth: oneOf(env, 'AUTH', ['keys', 'none'] as const, 'keys'),
    streamsTable: env.STREAMS_TABLE || undefined,
    hlsBucket: env.HLS_BUCKET || undefined,
    hlsPrefix: env.HLS_PREFIX ?? '',
    s3Endpoint: httpUrl(env, 'S3_ENDPOINT'),
    hlsSpoolBytes: int(env, 'HLS_SPOOL_BYTES', 2 * 1024 ** 3),
    awsRegion: env.AWS_REGION || 'ap-northeast-2',
    hlsEnabled: bool(env, 'HLS', true),
    // Whole seconds: EXT-X-TARGETDURATION is an integer (RFC 8216 4.3.3.1).
    hlsSegmentSeconds: int(env, 'HLS_SEGMENT_SECONDS', 2, 1, 60),
    // RFC 8216 6.2.2: a live playlist must keep at least three target durations of segments.
    hlsWindow: int(env, 'HLS_WINDOW', 6, 3, 1000),
    recordingsMaxBytes: int(env, 'RECORDINGS_MAX_BYTES', DEFAULT_RECORDINGS_MAX_BYTES),
    recordingsMaxDays: int(env, 'RECORDINGS_MAX_DAYS', 0),
    playTokenSecret: env.PLAY_TOKEN_SECRET || undefined,
    playbackPublicKeys: env.PLAYBACK_PUBLIC_KEYS || undefined,
    playbackOrigins: (env.PLAYBACK_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean).map(origin),
    ...tlsFiles(env),
    rtmpsPort: port(env, 'RTMPS_PORT', 1936),
    httpsPort: port(env, 'HTTPS_PORT', 8443),
    apiToken: env.API_TOKEN || undefined,
    viewerBacklogBytes: int(env, 'VIEWER_BACKLOG_BYTES', 4 * 1024 * 1024),
    writeMergeMs: int(env, 'WRITE_MERGE_MS', 20),
    // On a laptop Ctrl-C should be quick; the cloud task sets this below its stop timeout.
    drainSeconds: int(env, 'DRAIN_SECONDS', 0),
    metricsNamespace: env.METRICS_NAMESPACE || 'Bridgecast',
    metricsServiceName: env.METRICS_SERVICE_NAME || undefined,
    emfEnabled: bool(env, 'EMF', Boolean(env.ECS_CONTAINER_METADATA_URI_V4)),
    ecsAgentUri: env.ECS_AGENT_URI || undefined,
    ecsMetadataUri: env.ECS_CONTAINER_METADATA_URI_V4 || undefined,
    publicHost: env.PUBLIC_HOST || '127.0.0.1',
    hlsBaseUrl: httpUrl(env, 'HLS_BASE_URL'),
    flvBaseUrl: httpUrl(env, 'FLV_BASE_URL'),
    kcpEnabled: bool(env, 'KCP', true),
    kcp,
    relay,
    clusterAddress: env.CLUSTER_ADDRESS || undefined,
    limits: loadLimits(env),
    edge: loadEdgeConfig(env, relay, kcp.fec),
  };
}
