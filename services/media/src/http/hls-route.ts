import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import path from 'node:path';
import { HLS_OBJECT_META, type HlsObjectMeta } from '@bridgecast/contracts';
import { isValidStreamName } from '../rtmp/names.js';
import type { Route } from './http-server.js';
import { playbackCors, sendError } from './responses.js';

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
 * `.` or `..`), so a request cannot leave the root. `authorize` decides on
 * every playlist and segment, given the request's full URL (what a
 * CloudFront policy's Resource is matched against): the play token of
 * public streams, the signed cookies of private ones. A request with
 * `?token=` gets playlists whose URIs carry it; answers that depend on the
 * viewer are cached `private`. Pages of the app's origins get credentialed
 * CORS, so their players can send cookies.
 */
/** A Host header that is only a name or address and a port: nothing that could shift the path in a URL. */
const PLAIN_HOST = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/**
 * The URL a policy's Resource is matched against, as CloudFront sees it:
 * scheme, Host, path and query. The path is the decoded one the route
 * pattern accepted, and a Host with anything but a name and port (a `/`
 * would let `host/live/<stream A>/` prefix stream B's path) yields no
 * host at all, so it matches no credential.
 */
function requestUrl(req: IncomingMessage, urlPath: string): string {
  const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
  const host = req.headers.host ?? '';
  const query = req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
  return `${scheme}://${PLAIN_HOST.test(host) ? host : ''}${urlPath}${query}`;
}

export type HlsAuthorizer = (req: IncomingMessage, streamId: string, url: string, query: URLSearchParams) => Promise<boolean>;

export function hlsRoute(rootDir: string, authorize: HlsAuthorizer, appOrigins: readonly string[] = []): Route {
  return async (req, res, urlPath, query) => {
    const match = HLS_PATH.exec(urlPath);
    const streamId = match?.[1] ?? match?.[2];
    if (!streamId || !isValidStreamName(streamId)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'method_not_allowed', 'use GET or HEAD');
      return true;
    }
    const cors = playbackCors(req, appOrigins);
    if (!(await authorize(req, streamId, requestUrl(req, urlPath), query))) {
      sendError(res, 403, 'forbidden', 'play token or signed cookies missing, invalid or expired', cors);
      return true;
    }
    const file = path.join(rootDir, ...urlPath.slice(1).split('/'));
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) {
      sendError(res, 404, 'not_found', 'no such playlist or segment', cors);
      return true;
    }
    const kind = FILE_KINDS[path.extname(file)]!;
    const token = query.get('token');
    const perViewer = token !== null || req.headers.cookie?.includes('CloudFront-Policy=') === true;
    const headers = {
      ...cors,
      'Content-Type': kind.contentType,
      'Cache-Control': perViewer ? kind.cacheControl.replace('public', 'private') : kind.cacheControl,
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
