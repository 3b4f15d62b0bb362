import { ConfigError } from './config-error.js';
import { intSetting } from './env-settings.js';
import { DEFAULT_PUBLISHER_TAKEOVER_MS } from './hub/stream-hub.js';
import { DEFAULT_KCP_ENDPOINT_LIMITS, type KcpEndpointLimits } from 'kcp-ts/node';
import { DEFAULT_RTMP_LIMITS, type RtmpServerLimits } from './rtmp/rtmp-server.js';

/**
 * Every limit that protects one task from its clients, in one place, each
 * with its environment variable (the README's "Limits" table lists them
 * with the ones fixed in code). Exceeding one is logged and counted (see
 * /metrics) and affects only the connection or stream that exceeded it.
 */
export interface ServiceLimits {
  /** RTMP over TCP and over KCP: connections, per-address connections, timeouts, message size, chunk streams, bytes of partly received messages. */
  rtmp: RtmpServerLimits;
  /** UDP sessions of the KCP endpoint. */
  kcp: KcpEndpointLimits;
  /** Live streams (publishers) one task accepts; more are refused with NetStream.Publish.Rejected. */
  maxPublishers: number;
  /** A publisher without media this long can be replaced by a new publisher of the same stream (see StreamHub). */
  publisherTakeoverMs: number;
  /** RTMP/KCP play of a stream that is not live waits this long, then NetStream.Play.StreamNotFound. */
  playWaitMs: number;
}

/** Long enough for a viewer that arrives just before its publisher (or a relay pull), short enough that a wrong name is an answer. */
export const DEFAULT_PLAY_WAIT_MS = 10_000;

export const DEFAULT_MAX_PUBLISHERS = 200;

const positiveInt = (env: NodeJS.ProcessEnv, name: string, fallback: number) => intSetting(env, name, fallback, 1);

export function loadLimits(env: NodeJS.ProcessEnv): ServiceLimits {
  const rtmp = DEFAULT_RTMP_LIMITS;
  const kcp = DEFAULT_KCP_ENDPOINT_LIMITS;
  const limits: ServiceLimits = {
    rtmp: {
      maxConnections: positiveInt(env, 'MAX_CONNECTIONS', rtmp.maxConnections),
      maxConnectionsPerAddress: positiveInt(env, 'MAX_CONNECTIONS_PER_IP', rtmp.maxConnectionsPerAddress),
      handshakeTimeoutMs: positiveInt(env, 'RTMP_HANDSHAKE_TIMEOUT_MS', rtmp.handshakeTimeoutMs),
      idleTimeoutMs: positiveInt(env, 'RTMP_IDLE_TIMEOUT_MS', rtmp.idleTimeoutMs),
      maxMessageSize: positiveInt(env, 'RTMP_MAX_MESSAGE_BYTES', rtmp.maxMessageSize),
      maxChunkStreams: positiveInt(env, 'RTMP_MAX_CHUNK_STREAMS', rtmp.maxChunkStreams),
      maxPartialBytes: positiveInt(env, 'RTMP_MAX_PARTIAL_BYTES', rtmp.maxPartialBytes),
    },
    kcp: {
      ...kcp,
      maxSessions: positiveInt(env, 'KCP_MAX_SESSIONS', kcp.maxSessions),
      maxSessionsPerIp: positiveInt(env, 'KCP_MAX_SESSIONS_PER_IP', kcp.maxSessionsPerIp),
      idleTimeoutMs: positiveInt(env, 'KCP_IDLE_TIMEOUT_MS', kcp.idleTimeoutMs),
      handshakeTimeoutMs: positiveInt(env, 'KCP_HANDSHAKE_TIMEOUT_MS', kcp.handshakeTimeoutMs),
    },
    maxPublishers: positiveInt(env, 'MAX_PUBLISHERS', DEFAULT_MAX_PUBLISHERS),
    publisherTakeoverMs: positiveInt(env, 'PUBLISHER_TAKEOVER_MS', DEFAULT_PUBLISHER_TAKEOVER_MS),
    playWaitMs: positiveInt(env, 'RTMP_PLAY_WAIT_MS', DEFAULT_PLAY_WAIT_MS),
  };
  // Otherwise every message of the largest allowed size would be refused.
  if (limits.rtmp.maxPartialBytes < limits.rtmp.maxMessageSize) {
    throw new ConfigError('RTMP_MAX_PARTIAL_BYTES', String(limits.rtmp.maxPartialBytes), `at least RTMP_MAX_MESSAGE_BYTES (${limits.rtmp.maxMessageSize})`);
  }
  return limits;
}
