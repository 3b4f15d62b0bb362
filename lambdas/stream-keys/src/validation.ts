import { ApiError, badRequest } from '@bridgecast/contracts';
import type { TableKey } from './cursor.js';
import { decodeCursor } from './cursor.js';
import { isWellFormedStreamId } from './keys.js';
import { normalizeViewerIp } from './playback-credentials.js';

/**
 * Validation of everything a client sends: body, stream names, ids and
 * paging parameters. Every failure is an ApiError with a 4xx status, so
 * bad input can never reach the table.
 */

/** Request bodies are tiny (`{"name": ...}`); anything bigger is refused before parsing. */
export const MAX_BODY_BYTES = 4096;
export const MAX_NAME_LENGTH = 64;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 100;

/**
 * Display names: letters and digits of any script, plus space, `_`, `-`,
 * `.`; starting with a letter or digit, no `..`. That rules out path
 * separators, traversal, control and invisible characters, and markup.
 */
const STREAM_NAME = /^[\p{L}\p{N}][\p{L}\p{N}\p{M} _.-]*$/u;

export function validateStreamName(name: unknown): string {
  if (typeof name !== 'string') throw badRequest('invalid_name', 'name must be a string');
  const length = [...name].length;
  if (length < 1 || length > MAX_NAME_LENGTH) throw badRequest('invalid_name', `name must be 1 to ${MAX_NAME_LENGTH} characters`);
  if (!STREAM_NAME.test(name) || name.includes('..') || name.endsWith(' ')) {
    throw badRequest('invalid_name', 'name may contain letters, digits, spaces, "_", "-" and "." (no "..") and must start with a letter or digit');
  }
  return name;
}

export function validateStreamId(id: string): string {
  if (!isWellFormedStreamId(id)) throw badRequest('invalid_stream_id', 'stream id must look like st_ followed by letters and digits');
  return id;
}

/** The raw body as text, refusing oversized bodies before decoding them. */
export function decodeBody(body: string | undefined, isBase64Encoded: boolean): string | undefined {
  if (body === undefined || body === '') return undefined;
  // base64 is 4/3 the size of its payload: an encoded body this long cannot fit.
  if (body.length > (isBase64Encoded ? Math.ceil(MAX_BODY_BYTES / 3) * 4 : MAX_BODY_BYTES * 4)) throw payloadTooLargeError();
  const bytes = isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) throw payloadTooLargeError();
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw badRequest('invalid_encoding', 'body must be UTF-8');
  return text;
}

export function payloadTooLargeError(): ApiError {
  return new ApiError(413, 'payload_too_large', `request body must be at most ${MAX_BODY_BYTES} bytes`);
}

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/**
 * Bodies must be declared application/json. Besides naming the format, this
 * keeps browsers from sending them cross-site without a CORS preflight: a
 * form (urlencoded, multipart, text/plain) or a fetch of an untyped body
 * needs none, so a missing type is refused like a wrong one.
 */
function requireJsonType(contentType: string | undefined): void {
  if (contentType === undefined || !JSON_TYPE.test(contentType)) {
    throw new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
  }
}

function parseJsonObject(text: string | undefined, example: string): Record<string, unknown> {
  if (text === undefined) throw badRequest('missing_body', `body must be a JSON object like ${example}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest('invalid_json', 'body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest('invalid_body', `body must be a JSON object like ${example}`);
  }
  return parsed as Record<string, unknown>;
}

/** `POST /streams`: `{ "name": <valid name>, "private"?: boolean }`, as application/json. */
export function parseCreateStreamBody(text: string | undefined, contentType: string | undefined): { name: string; private: boolean } {
  requireJsonType(contentType);
  const parsed = parseJsonObject(text, '{"name": "...", "private": false}');
  if (Object.keys(parsed).some((k) => k !== 'name' && k !== 'private')) throw badRequest('invalid_body', 'the fields allowed are "name" and "private"');
  if (parsed.private !== undefined && typeof parsed.private !== 'boolean') throw badRequest('invalid_private', '"private" must be true or false');
  return { name: validateStreamName(parsed.name), private: parsed.private === true };
}

export const DEFAULT_PLAYBACK_SECONDS = 3600;
export const MAX_PLAYBACK_SECONDS = 86_400;
const MIN_PLAYBACK_SECONDS = 60;

/**
 * `POST /streams/{id}/playback`: `{ "expiresInSeconds"?: 60..86400,
 * "viewerIp"?: "<address or CIDR>" }` (an empty body takes the defaults).
 */
export function parsePlaybackBody(text: string | undefined, contentType: string | undefined): { expiresInSeconds: number; viewerIp?: string } {
  if (text === undefined) return { expiresInSeconds: DEFAULT_PLAYBACK_SECONDS };
  requireJsonType(contentType);
  const parsed = parseJsonObject(text, '{"expiresInSeconds": 3600, "viewerIp": "203.0.113.7"}');
  if (Object.keys(parsed).some((k) => k !== 'expiresInSeconds' && k !== 'viewerIp')) {
    throw badRequest('invalid_body', 'the fields allowed are "expiresInSeconds" and "viewerIp"');
  }
  const seconds = parsed.expiresInSeconds ?? DEFAULT_PLAYBACK_SECONDS;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < MIN_PLAYBACK_SECONDS || seconds > MAX_PLAYBACK_SECONDS) {
    throw badRequest('invalid_expiry', `expiresInSeconds must be an integer from ${MIN_PLAYBACK_SECONDS} to ${MAX_PLAYBACK_SECONDS}`);
  }
  if (parsed.viewerIp === undefined) return { expiresInSeconds: seconds };
  if (typeof parsed.viewerIp !== 'string') throw badRequest('invalid_viewer_ip', 'viewerIp must be an IP address or CIDR');
  try {
    return { expiresInSeconds: seconds, viewerIp: normalizeViewerIp(parsed.viewerIp) };
  } catch {
    throw badRequest('invalid_viewer_ip', 'viewerIp must be an IPv4 or IPv6 address or CIDR');
  }
}

/**
 * `POST /streams/{id}/rotate`: no body and no type (what the CLI sends), or
 * `{}` as application/json. Anything else typed is refused, so no HTML form
 * can rotate a key; bare POSTs from a cross-site page (fetch) carry an
 * Origin header, which the local adapter refuses.
 */
export function parseRotateBody(text: string | undefined, contentType: string | undefined): void {
  if (text === undefined && contentType === undefined) return;
  requireJsonType(contentType);
  if (text !== undefined && Object.keys(parseJsonObject(text, '{}')).length > 0) {
    throw badRequest('invalid_body', 'rotate takes no fields: send {} or no body');
  }
}

/** `?limit=&cursor=` of list routes. */
export function parsePageQuery(query: Record<string, string | undefined>): { limit: number; startAfter?: TableKey } {
  const rawLimit = query.limit;
  let limit = DEFAULT_PAGE_SIZE;
  if (rawLimit !== undefined) {
    limit = Number(rawLimit);
    if (!/^\d{1,3}$/.test(rawLimit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw badRequest('invalid_limit', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
    }
  }
  return { limit, ...(query.cursor !== undefined ? { startAfter: decodeCursor(query.cursor) } : {}) };
}
