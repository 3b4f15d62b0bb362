import type http from 'node:http';
import type net from 'node:net';
import { loadConfig, type MediaConfig } from './config.js';
import { RateMeter } from './hub/rate-meter.js';
import { StreamHub } from './hub/stream-hub.js';
import { handleFlvRequest } from './http/flv-route.js';
import { createHttpServer, listenHttp, type Route } from './http/http-server.js';
import { sendJson } from './http/responses.js';
import { describeLiveStream } from './http/stream-list.js';
import { createLogger, type Logger } from './logger.js';
import { playAuthorizer } from './auth/play-token.js';
import { MediaMetrics } from './metrics/metrics.js';
import { DEFAULT_RTMP_LIMITS, listenRtmpTcp, RtmpSessionManager } from './rtmp/rtmp-server.js';
import type { PublishDecision } from './rtmp/server-session.js';
import { isValidStreamName } from './rtmp/names.js';

export interface MediaServer {
  readonly config: MediaConfig;
  readonly logger: Logger;
  readonly hub: StreamHub;
  readonly metrics: MediaMetrics;
  readonly rtmp: RtmpSessionManager;
  readonly rtmpPort: number;
  readonly httpPort: number;
  /** Stops taking publishers, ends streams, flushes HLS, closes listeners. */
  close(reason?: string): Promise<void>;
}

export interface StartOptions extends Partial<MediaConfig> {
  logger?: Logger;
}

/** Egress bit rate per viewer protocol. */
export class EgressMeters {
  private readonly meters = new Map<string, RateMeter>();
  meter(protocol: string): RateMeter {
    let m = this.meters.get(protocol);
    if (!m) this.meters.set(protocol, (m = new RateMeter()));
    return m;
  }
  bitsPerSecond(): number {
    let sum = 0;
    for (const m of this.meters.values()) sum += m.bitsPerSecond();
    return sum;
  }
}

/** Starts the media service: RTMP (TCP), HTTP, and the parts the configuration enables. */
export async function startMediaServer(options: StartOptions = {}): Promise<MediaServer> {
  const { logger: givenLogger, ...overrides } = options;
  const config: MediaConfig = { ...loadConfig(), ...overrides };
  const logger = givenLogger ?? createLogger(config.logLevel);
  const hub = new StreamHub();
  const egress = new EgressMeters();
  const metrics = new MediaMetrics(hub);
  let accepting = true;

  const authorizePublish = async (_app: string, key: string): Promise<PublishDecision> =>
    isValidStreamName(key) ? { ok: true, streamId: key } : { ok: false, code: 'BadName', reason: 'invalid stream name' };
  const authorizePlay = playAuthorizer(config.playTokenSecret);

  const rtmp = new RtmpSessionManager((protocol, remoteAddress) => ({
    hub,
    logger,
    protocol,
    remoteAddress,
    authorizePublish,
    authorizePlay,
    maxViewerBacklogBytes: config.viewerBacklogBytes,
    acceptingPublishers: () => accepting,
    egress: egress.meter(protocol),
  }), DEFAULT_RTMP_LIMITS, logger);

  const routes: Route[] = [
    (req, res, path) => {
      if (path !== '/healthz') return false;
      sendJson(res, accepting ? 200 : 503, { status: accepting ? 'ok' : 'draining', streams: hub.list().length });
      return true;
    },
    async (_req, res, path) => {
      if (path !== '/metrics') return false;
      res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
      res.end(await metrics.registry.metrics());
      return true;
    },
    (req, res, path) => {
      if (path !== '/api/streams' || req.method !== 'GET') return false;
      sendJson(res, 200, { streams: hub.list().map((s) => describeLiveStream(s)) });
      return true;
    },
    (req, res, path, query) => handleFlvRequest(req, res, path, query, {
      hub, maxBacklogBytes: config.viewerBacklogBytes, authorizePlay, egress: egress.meter('flv'),
    }),
  ];

  const httpServer = createHttpServer(routes, logger);
  const httpPort = await listenHttp(httpServer, config.host, config.httpPort);
  const rtmpServer = await listenRtmpTcp(rtmp, config.host, config.rtmpPort);
  const rtmpAddress = rtmpServer.address() as net.AddressInfo;

  let closing: Promise<void> | null = null;
  const close = (reason = 'server shutting down'): Promise<void> => {
    closing ??= (async () => {
      // Drain: refuse new publishers and fail health checks (the load balancer
      // stops sending new connections), give live broadcasts time to end on
      // their own, then cut the rest off: their encoders reconnect through the
      // load balancer and land on another task.
      accepting = false;
      const deadline = Date.now() + config.drainSeconds * 1000;
      while (hub.list().length > 0 && Date.now() < deadline) await sleep(500);
      if (hub.list().length > 0) logger.warn({ streams: hub.list().length }, 'drain deadline reached; disconnecting publishers');
      rtmpServer.close();
      hub.closeAll(reason);
      rtmp.closeAll(reason);
      await closeHttp(httpServer);
    })();
    return closing;
  };

  logger.info({ rtmpPort: rtmpAddress.port, httpPort }, 'media service listening');
  return { config, logger, hub, metrics, rtmp, rtmpPort: rtmpAddress.port, httpPort, close };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
