import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { HLS_OBJECT_META, type HlsObjectMeta } from '@bridgecast/contracts';
import { HLS_APP } from '../hls/hls-writer.js';
import { isValidStreamName } from '../rtmp/names.js';
import type { Route } from './http-server.js';
import { CORS_HEADERS, sendError } from './responses.js';

/** Content type and cache policy by file kind; the CDN in AWS relies on the same ones (set on the S3 objects). */
const FILE_KINDS: Record<string, HlsObjectMeta> = {
  '.m3u8': HLS_OBJECT_META.livePlaylist,
  '.ts': HLS_OBJECT_META.segment,
  '.json': HLS_OBJECT_META.endMarker,
};

/** `/live/<id>/index.m3u8` and `/recordings/<id>/<broadcast>/<file>`: nothing else under the HLS root is served. */
const HLS_PATH = /^\/(?:live\/([^/]+)\/index\.m3u8|recordings\/([^/]+)\/[A-Za-z0-9_-]+\/[A-Za-z0-9_-]+\.(?:m3u8|ts|json))$/;

/**
 * A playlist whose every URI line carries `token`. Relative URIs resolve
 * without the playlist's query string, so players (hls.js, Safari, ffmpeg)
 * would fetch segments without the token; written into the URIs, it reaches
 * every segment whatever the player, also cross-origin, where a cookie
 * would need credentialed CORS.
 */
function withToken(playlist: string, token: string): string {
  const param = `token=${encodeURIComponent(token)}`;
  return playlist.replace(/^(?!#)(\S.*)$/gm, (uri) => `${uri}${uri.includes('?') ? '&' : '?'}${param}`);
}

/**
 * Serves the HLS tree the HLS writer keeps under DATA_DIR/hls (local mode),
 * with CORS for browser players. The path pattern admits only the layout's
 * own names (stream names are validated as everywhere else, and cannot be
 * `.` or `..`), so a request cannot leave the root. `authorizePlay` (the
 * play-token check) decides on every playlist and segment; a request with
 * `?token=` gets playlists whose URIs carry it, and `private` caching, as
 * the answer is per viewer.
 */
export function hlsRoute(rootDir: string, authorizePlay: (app: string, stream: string, query: URLSearchParams) => boolean): Route {
  return async (req, res, urlPath, query) => {
    const match = HLS_PATH.exec(urlPath);
    const streamId = match?.[1] ?? match?.[2];
    if (!streamId || !isValidStreamName(streamId)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'method_not_allowed', 'use GET or HEAD');
      return true;
    }
    if (!authorizePlay(HLS_APP, streamId, query)) {
      sendError(res, 403, 'forbidden', 'play token missing, invalid or expired');
      return true;
    }
    const file = path.join(rootDir, ...urlPath.slice(1).split('/'));
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) {
      sendError(res, 404, 'not_found', 'no such playlist or segment');
      return true;
    }
    const kind = FILE_KINDS[path.extname(file)]!;
    const token = query.get('token');
    const headers = {
      ...CORS_HEADERS,
      'Content-Type': kind.contentType,
      'Cache-Control': token === null ? kind.cacheControl : kind.cacheControl.replace('public', 'private'),
      'Last-Modified': info.mtime.toUTCString(),
    };
    if (token !== null && path.extname(file) === '.m3u8') {
      const body = Buffer.from(withToken(await readFile(file, 'utf8'), token));
      res.writeHead(200, { ...headers, 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    res.writeHead(200, { ...headers, 'Content-Length': info.size });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    // The writer replaces files by rename, so an open file is always complete.
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
    return true;
  };
}
