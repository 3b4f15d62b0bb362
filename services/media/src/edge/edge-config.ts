import type { FecSetting } from 'kcp-ts';
import { ConfigError } from '../config-error.js';
import { withServerFec } from '../kcp-config.js';
import { httpUrlSetting, oneOfSetting, type Env } from '../env-settings.js';
import { isValidServerId } from '../relay/relay-token.js';

/**
 * Edge mode: this service (a task of an edge cluster near the viewers)
 * receives the origin's live streams across the border and serves them.
 * Setting EDGE_ORIGIN turns it on; see the README's "Edges" section.
 */
export interface EdgeConfig {
  /** Where the media comes from: kcp://<origin NLB>:<udp port> (FEC from KCP_FEC added as ?fec=), or rtmp:// for comparison. */
  origin: URL;
  /** Where the origin lists its live streams (GET <api>/api/relay/live, signed with RELAY_SECRET). */
  originApi: URL;
  /** all: every live stream of the origin, watched here or not (the edge's HLS needs it); on-demand: only while an edge viewer asks. */
  mode: EdgeMode;
  /** This edge's name in the origin's /api/live, in metrics and in CloudWatch (EDGE_NAME, default SERVER_ID). */
  name: string;
}

export const EDGE_MODES = ['all', 'on-demand'] as const;
export type EdgeMode = typeof EDGE_MODES[number];

const EDGE_ORIGIN_SCHEMES = new Set(['kcp:', 'rtmp:']);
/** The origin's HTTP port when EDGE_ORIGIN_API is not given (8080 on the origin NLB, as locally). */
const DEFAULT_ORIGIN_API_PORT = 8080;

/**
 * EDGE_ORIGIN, EDGE_ORIGIN_API, EDGE_MODE, EDGE_NAME; undefined when
 * EDGE_ORIGIN is unset (an origin, or a plain server). Refusals name the
 * variable and its value, never RELAY_SECRET's.
 */
export function loadEdgeConfig(env: Env, relay: { serverId: string; secret: string | undefined; origin: URL | undefined }, fec: FecSetting | null): EdgeConfig | undefined {
  const raw = env.EDGE_ORIGIN?.trim();
  if (!raw) {
    for (const name of ['EDGE_ORIGIN_API', 'EDGE_MODE', 'EDGE_NAME']) {
      if (env[name]) throw new ConfigError(name, env[name]!, 'only used together with EDGE_ORIGIN (this server is not an edge)');
    }
    return undefined;
  }
  const origin = edgeOriginUrl(raw, fec);
  if (relay.secret === undefined) throw new ConfigError('RELAY_SECRET', '', 'required with EDGE_ORIGIN: the origin\'s relay secret, which signs the edge\'s pulls and listings');
  if (relay.origin) throw new ConfigError('RELAY_ORIGIN', relay.origin.href, 'not together with EDGE_ORIGIN: an edge pulls from EDGE_ORIGIN only');
  const api = httpUrlSetting(env, 'EDGE_ORIGIN_API') ?? `http://${origin.host.replace(/:\d+$/, '')}:${DEFAULT_ORIGIN_API_PORT}`;
  const name = env.EDGE_NAME?.trim() || relay.serverId;
  if (!isValidServerId(name)) throw new ConfigError('EDGE_NAME', name, 'letters, digits, "_", "-" and "." (at most 64), such as ap-east-1');
  return { origin, originApi: new URL(api), mode: oneOfSetting(env, 'EDGE_MODE', EDGE_MODES, 'all'), name };
}

/** kcp://host:port or rtmp://host:port; a kcp:// origin gets the KCP_FEC setting (see withServerFec). */
function edgeOriginUrl(raw: string, fec: FecSetting | null): URL {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !EDGE_ORIGIN_SCHEMES.has(url.protocol) || !url.hostname || !url.port) {
    throw new ConfigError('EDGE_ORIGIN', raw, 'kcp://<origin host>:<udp port> (or rtmp://<host>:<port>)');
  }
  return withServerFec(url, fec);
}
