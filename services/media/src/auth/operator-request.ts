import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiError } from '@bridgecast/contracts';
import { isLoopback } from './loopback.js';

/**
 * Who counts as an operator of this server: the caller of the local
 * stream-keys API, and of the operator view of /api/live. With API_TOKEN,
 * whoever sends the bearer token; without it, a loopback client, and only
 * one that is not a web page from another site:
 *
 * - the Host must name this machine (or PUBLIC_HOST, with API_TOKEN): a
 *   DNS-rebinding page reaches 127.0.0.1 under its own name, and its
 *   requests are then same-origin to the browser;
 * - an Origin header must be this server's own: any other site's page can
 *   make the browser send requests here (form posts and simple fetches
 *   need no preflight), and the browser marks them with the page's origin.
 */
export interface OperatorAccess {
  apiToken?: string;
  /** The name clients use for this server (PUBLIC_HOST): an accepted Host when API_TOKEN is set. */
  publicHost?: string;
}

export function bearerTokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (\S+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The host name of a Host header, or undefined unless it is a plain name or address with an optional port. */
function hostName(host: string | undefined): string | undefined {
  return /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/i.exec(host ?? '')?.[1]?.replace(/^\[|\]$/g, '').toLowerCase();
}

function isOwnOrigin(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false; // "null" (sandboxed frames, file: pages) and garbage
  }
}

/** Why `req` is not an operator's request, as the error the local API answers with; undefined when it is. */
export function operatorRefusal(req: IncomingMessage, { apiToken, publicHost }: OperatorAccess): ApiError | undefined {
  const host = req.headers.host;
  const name = hostName(host);
  const publicName = apiToken !== undefined ? publicHost?.replace(/^\[|\]$/g, '').toLowerCase() : undefined;
  if (!name || !(isLoopback(name) || name === publicName)) {
    return new ApiError(403, 'invalid_host', 'the local API answers only requests addressed to localhost or 127.0.0.1 (or PUBLIC_HOST with API_TOKEN)');
  }
  if (apiToken !== undefined) {
    // A token is proof enough, from any origin: no page can read it from here.
    if (bearerTokenMatches(req.headers.authorization, apiToken)) return undefined;
    return new ApiError(401, 'unauthorized', 'send Authorization: Bearer <API_TOKEN>', { 'www-authenticate': 'Bearer' });
  }
  if (!isLoopback(req.socket.remoteAddress)) {
    return new ApiError(403, 'forbidden', 'the local API only serves loopback clients unless API_TOKEN is set');
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !isOwnOrigin(origin, host!)) {
    return new ApiError(403, 'cross_origin', 'requests from other sites\' pages need Authorization: Bearer <API_TOKEN>');
  }
  return undefined;
}
