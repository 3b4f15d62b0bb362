import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { isValidStreamName } from '../rtmp/names.js';
import type { Route } from './http-server.js';
import { CORS_HEADERS, sendError } from './responses.js';

/** Content type and cache policy by file kind; the CDN in AWS relies on the same ones (set on the S3 objects). */
const FILE_KINDS: Record<string, { contentType: string; cacheControl: string }> = {
  '.m3u8': { contentType: 'application/vnd.apple.mpegurl', cacheControl: 'public, max-age=1' },
  '.ts': { contentType: 'video/mp2t', cacheControl: 'public, max-age=31536000, immutable' },
  '.json': { contentType: 'application/json', cacheControl: 'no-cache' },
};

/** `/live/<id>/index.m3u8` and `/recordings/<id>/<broadcast>/<file>`: nothing else under the HLS root is served. */
const HLS_PATH = /^\/(?:live\/([^/]+)\/index\.m3u8|recordings\/([^/]+)\/[A-Za-z0-9_-]+\/[A-Za-z0-9_-]+\.(?:m3u8|ts|json))$/;

/**
 * Serves the HLS tree the HLS writer keeps under DATA_DIR/hls (local mode),
 * with CORS for browser players. The path pattern admits only the layout's
 * own names (stream names are validated as everywhere else, and cannot be
 * `.` or `..`), so a request cannot leave the root.
 */
export function hlsRoute(rootDir: string): Route {
  return async (req, res, urlPath) => {
    const match = HLS_PATH.exec(urlPath);
    if (!match || !isValidStreamName(match[1] ?? match[2]!)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'method_not_allowed', 'use GET or HEAD');
      return true;
    }
    const file = path.join(rootDir, ...urlPath.slice(1).split('/'));
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) {
      sendError(res, 404, 'not_found', 'no such playlist or segment');
      return true;
    }
    const kind = FILE_KINDS[path.extname(file)]!;
    res.writeHead(200, {
      ...CORS_HEADERS,
      'Content-Type': kind.contentType,
      'Cache-Control': kind.cacheControl,
      'Content-Length': info.size,
      'Last-Modified': info.mtime.toUTCString(),
    });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    // The writer replaces files by rename, so an open file is always complete.
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
    return true;
  };
}
