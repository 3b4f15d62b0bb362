import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FecSetting } from 'kcp-ts';
import { withServerFec } from '../kcp-config.js';
import { isValidServerId } from './relay-token.js';

/** Where an origin pushes which streams. */
export interface PushTarget {
  url: URL;
  /** `app/name` patterns; `*` matches any run of characters except `/`. */
  streams: string[];
}

export interface RelayConfig {
  /** This server's id in via-chains (SERVER_ID, or random per start). */
  serverId: string;
  /** Shared secret between servers (RELAY_SECRET); without it relays go unauthenticated, as plain publish/play. */
  secret: string | undefined;
  /** Pull on demand from here (RELAY_ORIGIN). */
  origin: URL | undefined;
  /** Grace after the last viewer of a pulled stream leaves before the pull stops. */
  idleSeconds: number;
  push: PushTarget[];
  /** Lifetime of the tokens this server signs. */
  tokenTtlSeconds: number;
}

const SCHEMES = new Set(['rtmp:', 'kcp:']);

/** Parses `kcp://host:port` or `rtmp://host:port`; the path, if any, is ignored (app and name come from the stream). */
export function parseRelayUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`relay URL "${raw}" is not a URL (expected kcp://host:port or rtmp://host:port)`);
  }
  if (!SCHEMES.has(url.protocol) || !url.hostname) throw new Error(`relay URL "${raw}" must be kcp://host:port or rtmp://host:port`);
  return url;
}

/** `kcp://edge1:1935=live/*,rtmp://edge2:1935=live/st_abc`: one target per entry, entries for the same URL merged. */
export function parsePushList(raw: string): PushTarget[] {
  const byUrl = new Map<string, PushTarget>();
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.lastIndexOf('=');
    if (eq <= 0) throw new Error(`RELAY_PUSH entry "${entry}" must be <url>=<app>/<stream pattern>`);
    const url = parseRelayUrl(entry.slice(0, eq));
    const pattern = validPattern(entry.slice(eq + 1));
    const target = byUrl.get(url.href) ?? { url, streams: [] };
    target.streams.push(pattern);
    byUrl.set(url.href, target);
  }
  return [...byUrl.values()];
}

function validPattern(pattern: string): string {
  if (!/^[A-Za-z0-9_*-]+\/[A-Za-z0-9_.*-]+$/.test(pattern)) throw new Error(`stream pattern "${pattern}" must look like live/* or live/st_abc`);
  return pattern;
}

/** True if `app/name` matches a pattern such as `live/*`. */
export function matchesStreamPattern(pattern: string, app: string, name: string): boolean {
  const regex = new RegExp(`^${pattern.split('*').map(escapeRegex).join('[^/]*')}$`);
  return regex.test(`${app}/${name}`);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface RelayConfigFile {
  origin?: string;
  idleSeconds?: number;
  push?: { url: string; streams: string[] }[];
}

/**
 * Relay settings from the environment: RELAY_ORIGIN, RELAY_PUSH,
 * RELAY_CONFIG (a JSON file `{ "origin", "idleSeconds", "push": [{ "url",
 * "streams": [...] }] }`, merged under the variables), RELAY_SECRET,
 * RELAY_IDLE_SECONDS (default 15), SERVER_ID. kcp:// origins and push
 * targets take the server's KCP_FEC (`fec`) unless they name their own.
 */
export function loadRelayConfig(
  env: NodeJS.ProcessEnv,
  { fec = null, readFile = (p: string) => readFileSync(p, 'utf8') }: { fec?: FecSetting | null; readFile?: (path: string) => string } = {},
): RelayConfig {
  const file: RelayConfigFile = env.RELAY_CONFIG ? JSON.parse(readFile(env.RELAY_CONFIG)) as RelayConfigFile : {};
  const serverId = env.SERVER_ID || `srv-${randomBytes(4).toString('hex')}`;
  if (!isValidServerId(serverId)) throw new Error(`SERVER_ID "${serverId}" may only contain letters, digits, "_", "-" and "."`);
  const idleRaw = env.RELAY_IDLE_SECONDS ?? (file.idleSeconds === undefined ? undefined : String(file.idleSeconds));
  const idleSeconds = idleRaw === undefined || idleRaw === '' ? 15 : Number(idleRaw);
  if (!Number.isFinite(idleSeconds) || idleSeconds < 0) throw new Error(`RELAY_IDLE_SECONDS must be a non-negative number, got "${idleRaw}"`);
  const originRaw = env.RELAY_ORIGIN || file.origin;
  const push = [
    ...(file.push ?? []).map((t) => ({ url: parseRelayUrl(t.url), streams: t.streams.map(validPattern) })),
    ...parsePushList(env.RELAY_PUSH ?? ''),
  ].map((t) => ({ ...t, url: withServerFec(t.url, fec) }));
  return {
    serverId,
    secret: env.RELAY_SECRET || undefined,
    origin: originRaw ? withServerFec(parseRelayUrl(originRaw), fec) : undefined,
    idleSeconds,
    push,
    tokenTtlSeconds: 60,
  };
}
