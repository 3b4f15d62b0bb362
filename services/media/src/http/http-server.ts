import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Logger } from '../logger.js';
import { playbackCors, requestPath, sendError } from './responses.js';

/**
 * A route: returns true if it handled the request. Routes are tried in
 * order; the first that claims a request answers it.
 */
export type Route = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => boolean | Promise<boolean>;

/** The single HTTP port: health, metrics, API, HTTP-FLV, HLS and the web page. */
export function createHttpServer(routes: Route[], logger: Logger, appOrigins: readonly string[] = []): http.Server {
  return configure(http.createServer(requestHandler(routes, logger, appOrigins)));
}

/** The same routes over TLS (HTTPS for HTTP-FLV and HLS, TLS_CERT_FILE / TLS_KEY_FILE). */
export function createHttpsServer(tls: { cert: Buffer; key: Buffer }, routes: Route[], logger: Logger, appOrigins: readonly string[] = []): https.Server {
  return configure(https.createServer({ ...tls, minVersion: 'TLSv1.2' }, requestHandler(routes, logger, appOrigins)));
}

function requestHandler(routes: Route[], logger: Logger, appOrigins: readonly string[]) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    res.on('error', () => {});
    const parsed = requestPath(req);
    if (!parsed) {
      sendError(res, 400, 'bad_request', 'malformed request path');
      return;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...playbackCors(req, appOrigins), 'Access-Control-Max-Age': '86400' });
      res.end();
      return;
    }
    try {
      for (const route of routes) {
        if (await route(req, res, parsed.path, parsed.query)) return;
      }
      sendError(res, 404, 'not_found', 'no such resource');
    } catch (err) {
      logger.error({ err, path: parsed.path }, 'HTTP handler failed');
      if (!res.headersSent) sendError(res, 500, 'internal_error', 'internal error');
      else res.destroy();
    }
  };
}

function configure<S extends http.Server | https.Server>(server: S): S {
  // Bound slow or idle clients; live FLV responses keep writing, so only idle sockets time out.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;
  return server;
}

export function listenHttp(server: http.Server | https.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
