import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StreamHub } from '../hub/stream-hub.js';
import type { EgressMeter } from '../hub/egress-meter.js';
import type { WriteFlusher } from '../hub/write-batch.js';
import { isValidAppName, isValidStreamName } from '../rtmp/names.js';
import { FlvViewer } from './flv-viewer.js';
import { playbackCors, sendError } from './responses.js';

const FLV_PATH = /^\/([^/]+)\/([^/]+)\.flv$/;

export interface FlvRouteOptions {
  hub: StreamHub;
  maxBacklogBytes: number;
  authorizePlay(app: string, name: string, query: URLSearchParams, remoteAddress: string): Promise<boolean>;
  /** Origins of the app's pages that get credentialed CORS. */
  appOrigins?: readonly string[];
  egress: EgressMeter;
  /** Merged writes; unset writes every packet at once. */
  writeFlusher?: WriteFlusher;
}

/** `GET|HEAD /<app>/<stream>.flv`: live HTTP-FLV (chunked), as SRS and node-media-server serve it. */
export async function handleFlvRequest(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, opts: FlvRouteOptions): Promise<boolean> {
  const match = FLV_PATH.exec(path);
  if (!match) return false;
  const [, app, name] = match as unknown as [string, string, string];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(res, 405, 'method_not_allowed', 'use GET or HEAD');
    return true;
  }
  const stream = isValidAppName(app) && isValidStreamName(name) ? opts.hub.get(app, name) : undefined;
  if (!stream) {
    sendError(res, 404, 'stream_not_found', `no live stream ${app}/${name}`);
    return true;
  }
  const cors = playbackCors(req, opts.appOrigins ?? []);
  if (!(await opts.authorizePlay(app, name, query, req.socket.remoteAddress ?? ''))) {
    sendError(res, 403, 'forbidden', 'play token missing, invalid or expired', cors);
    return true;
  }
  if (stream.isEnded || res.destroyed) {
    sendError(res, 404, 'stream_not_found', `no live stream ${app}/${name}`, cors);
    return true;
  }
  res.writeHead(200, { 'Content-Type': 'video/x-flv', 'Cache-Control': 'no-cache', Connection: 'keep-alive', ...cors });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  res.socket?.setNoDelay(true);
  const viewer = new FlvViewer(res, stream, opts.maxBacklogBytes, opts.egress, opts.writeFlusher);
  stream.addSubscriber(viewer);
  res.on('close', () => stream.removeSubscriber(viewer));
  return true;
}
