import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring play tokens (optional: set PLAY_TOKEN_SECRET). The app's
 * backend signs `<app>/<stream>` with an expiry and hands viewers a URL with
 * `?token=<expiry>.<signature>`; the media service checks it on RTMP play,
 * KCP play and HTTP-FLV. Like nginx's secure_link: no database lookup.
 */

function signature(secret: string, app: string, stream: string, expiresAt: number): string {
  return createHmac('sha256', secret).update(`${app}/${stream}:${expiresAt}`).digest('base64url');
}

/** Creates a token valid until `expiresAt` (unix seconds). */
export function signPlayToken(secret: string, app: string, stream: string, expiresAt: number): string {
  return `${expiresAt}.${signature(secret, app, stream, expiresAt)}`;
}

export function verifyPlayToken(secret: string, app: string, stream: string, token: string | null, nowSeconds = Date.now() / 1000): boolean {
  if (!token) return false;
  const dot = token.indexOf('.');
  const expiresAt = Number(token.slice(0, dot));
  if (dot <= 0 || !Number.isInteger(expiresAt) || expiresAt < nowSeconds) return false;
  const expected = Buffer.from(signature(secret, app, stream, expiresAt));
  const given = Buffer.from(token.slice(dot + 1));
  return given.length === expected.length && timingSafeEqual(given, expected);
}
