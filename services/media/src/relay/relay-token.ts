import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Server-to-server credentials for relays. A relay publish or play carries,
 * in the stream name's query, an HMAC over (app, name, expiry, via-chain)
 * made with the shared RELAY_SECRET:
 *
 *   st_abc?relay=<token>&exp=<unix seconds>&via=<serverId>,<serverId>
 *
 * The via-chain lists the servers the request already passed through; it is
 * signed so a peer cannot strip it to hide a loop. Tokens are short-lived, so
 * a name copied out of a log is useless a minute later.
 */

export interface RelayClaims {
  app: string;
  name: string;
  /** Unix seconds. */
  expiresAt: number;
  via: readonly string[];
}

const SERVER_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export function isValidServerId(id: string): boolean {
  return SERVER_ID.test(id);
}

export function signRelayToken(secret: string, claims: RelayClaims): string {
  return hmac(secret, `bridgecast-relay/1\n${claims.app}\n${claims.name}\n${claims.expiresAt}\n${claims.via.join(',')}`);
}

export type RelayTokenCheck = 'ok' | 'expired' | 'bad-signature';

export function verifyRelayToken(secret: string, claims: RelayClaims, token: string, nowSeconds = Date.now() / 1000): RelayTokenCheck {
  return checkSignature(signRelayToken(secret, claims), token, claims.expiresAt, nowSeconds);
}

function hmac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('base64url');
}

function checkSignature(expectedToken: string, token: string, expiresAt: number, nowSeconds: number): RelayTokenCheck {
  const expected = Buffer.from(expectedToken);
  const given = Buffer.from(token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad-signature';
  return expiresAt < nowSeconds ? 'expired' : 'ok';
}

/**
 * The credential an edge lists the origin's live streams with (GET
 * /api/relay/live): `Authorization: Relay <edge name>.<expiry>.<hmac>`, the
 * HMAC over its own domain string so it can never pass as a play token.
 * Short-lived like relay names: a header copied out of a proxy log is
 * useless a minute later.
 */
export function relayListAuthorization(secret: string, edge: string, ttlSeconds: number, nowSeconds = Date.now() / 1000): string {
  const expiresAt = Math.floor(nowSeconds) + ttlSeconds;
  return `Relay ${edge}.${expiresAt}.${hmac(secret, `bridgecast-relay-list/1\n${edge}\n${expiresAt}`)}`;
}

export type RelayListCheck = { ok: true; edge: string } | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'bad-signature' };

export function verifyRelayListAuthorization(secret: string, header: string | undefined, nowSeconds = Date.now() / 1000): RelayListCheck {
  if (!header) return { ok: false, reason: 'missing' };
  const match = /^Relay ([A-Za-z0-9_.-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{1,128})$/.exec(header);
  if (!match) return { ok: false, reason: 'malformed' };
  const [, edge, exp, token] = match as unknown as [string, string, string, string];
  const verdict = checkSignature(hmac(secret, `bridgecast-relay-list/1\n${edge}\n${Number(exp)}`), token, Number(exp), nowSeconds);
  return verdict === 'ok' ? { ok: true, edge } : { ok: false, reason: verdict };
}

/** The relay part of a stream name's query, or null when the request is not a relay. */
export interface RelayQuery {
  token: string;
  expiresAt: number;
  via: string[];
}

/** Parses relay parameters; null when there is no `relay` parameter, 'malformed' when they are broken. */
export function parseRelayQuery(query: URLSearchParams): RelayQuery | null | 'malformed' {
  const token = query.get('relay');
  if (token === null) return null;
  const expiresAt = Number(query.get('exp'));
  const viaRaw = query.get('via') ?? '';
  const via = viaRaw === '' ? [] : viaRaw.split(',');
  if (!Number.isInteger(expiresAt) || via.length > 16 || !via.every(isValidServerId)) return 'malformed';
  return { token, expiresAt, via };
}

/** `name?relay=…&exp=…&via=…`: the name a relay publishes or plays with. */
export function signedRelayName(secret: string, app: string, name: string, via: readonly string[], ttlSeconds: number, nowSeconds = Date.now() / 1000): string {
  const expiresAt = Math.floor(nowSeconds) + ttlSeconds;
  const token = signRelayToken(secret, { app, name, expiresAt, via });
  const query = new URLSearchParams({ relay: token, exp: String(expiresAt), via: via.join(',') });
  return `${name}?${query.toString()}`;
}
