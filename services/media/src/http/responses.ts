import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiErrorBody } from '@bridgecast/contracts';

/** CORS for browser players and dashboards: media and the stream list are public reads. */
export const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range, Content-Type, Authorization',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range',
} as const;

/**
 * CORS for a playback request. Requests from one of the app's origins
 * (PLAYBACK_ORIGINS) get that origin back with Allow-Credentials, so a page
 * of the app can send the signed cookies of a private stream (the wildcard
 * origin forbids credentials); every other origin gets the public wildcard.
 */
export function playbackCors(req: IncomingMessage, appOrigins: readonly string[]): Record<string, string> {
  const origin = req.headers.origin;
  if (origin === undefined || !appOrigins.includes(origin)) return { ...CORS_HEADERS, Vary: 'Origin' };
  return { ...CORS_HEADERS, 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...CORS_HEADERS, ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, apiErrorBody(code, message), headers);
}

/** The request's path without query, or null when it cannot be decoded. */
export function requestPath(req: IncomingMessage): { path: string; query: URLSearchParams } | null {
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    return { path: decodeURIComponent(url.pathname), query: url.searchParams };
  } catch {
    return null;
  }
}
