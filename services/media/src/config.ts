import path from 'node:path';
import { loadLimits, type ServiceLimits } from './limits.js';

/**
 * Configuration of the media service, from the environment. Every setting
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
  /** Connection, session, size and timeout limits (see limits.ts). */
  limits: ServiceLimits;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

/** An origin as browsers send it (`https://app.example.com[:port]`); anything else is a configuration error. */
function origin(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`PLAYBACK_ORIGINS: "${raw}" is not an origin like https://app.example.com`);
  }
  if (url.origin === 'null' || url.origin !== raw.replace(/\/$/, '')) throw new Error(`PLAYBACK_ORIGINS: "${raw}" is not an origin like https://app.example.com`);
  return url.origin;
}

function tlsFiles(env: NodeJS.ProcessEnv): { tlsCertFile: string | undefined; tlsKeyFile: string | undefined } {
  const tlsCertFile = env.TLS_CERT_FILE || undefined;
  const tlsKeyFile = env.TLS_KEY_FILE || undefined;
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) throw new Error('TLS_CERT_FILE and TLS_KEY_FILE go together');
  return { tlsCertFile, tlsKeyFile };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): MediaConfig {
  const auth = env.AUTH ?? 'keys';
  if (auth !== 'keys' && auth !== 'none') throw new Error(`AUTH must be "keys" or "none", got "${auth}"`);
  return {
    host: env.HOST || '0.0.0.0',
    rtmpPort: int(env, 'RTMP_PORT', 1935),
    kcpPort: int(env, 'KCP_PORT', 1935),
    httpPort: int(env, 'HTTP_PORT', 8080),
    dataDir: path.resolve(env.DATA_DIR || './data'),
    logLevel: env.LOG_LEVEL || 'info',
    auth,
    streamsTable: env.STREAMS_TABLE || undefined,
    hlsBucket: env.HLS_BUCKET || undefined,
    hlsPrefix: env.HLS_PREFIX ?? '',
    s3Endpoint: env.S3_ENDPOINT || undefined,
    hlsSpoolBytes: int(env, 'HLS_SPOOL_BYTES', 2 * 1024 ** 3),
    awsRegion: env.AWS_REGION || 'ap-northeast-2',
    hlsEnabled: bool(env, 'HLS', true),
    hlsSegmentSeconds: int(env, 'HLS_SEGMENT_SECONDS', 2),
    hlsWindow: int(env, 'HLS_WINDOW', 6),
    playTokenSecret: env.PLAY_TOKEN_SECRET || undefined,
    playbackPublicKeys: env.PLAYBACK_PUBLIC_KEYS || undefined,
    playbackOrigins: (env.PLAYBACK_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean).map(origin),
    ...tlsFiles(env),
    rtmpsPort: int(env, 'RTMPS_PORT', 1936),
    httpsPort: int(env, 'HTTPS_PORT', 8443),
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
    hlsBaseUrl: env.HLS_BASE_URL || undefined,
    flvBaseUrl: env.FLV_BASE_URL || undefined,
    kcpEnabled: bool(env, 'KCP', true),
    limits: loadLimits(env),
  };
}
