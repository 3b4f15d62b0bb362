import { DEFAULT_PLAY_WAIT_MS } from '../limits.js';
import type http from 'node:http';
import type net from 'node:net';
import { EgressMeter } from '../hub/egress-meter.js';
import type { StreamHub } from '../hub/stream-hub.js';
import { createHttpServer, listenHttp } from '../http/http-server.js';
import type { Logger } from '../logger.js';
import { onDemandFlvRoute } from '../relay/demand.js';
import { isValidStreamName } from '../rtmp/names.js';
import { DEFAULT_RTMP_LIMITS, listenRtmpTcp, RtmpSessionManager } from '../rtmp/rtmp-server.js';
import type { SessionContext } from '../rtmp/server-session.js';

export interface LocalServerOptions {
  hub: StreamHub;
  logger: Logger;
  host: string;
  /** Listen for RTMP (TCP) here; omitted: no RTMP listener. 0 picks a free port. */
  rtmpPort?: number;
  /** Serve HTTP-FLV here (waiting for on-demand pulls); omitted: no HTTP listener. */
  httpPort?: number;
  /** Default: any valid name may publish (the bridge is local; the real server checks the key). */
  authorizePublish?: SessionContext['authorizePublish'];
  /** Default: anyone local may play. */
  authorizePlay?: SessionContext['authorizePlay'];
  /** How long an HTTP-FLV request waits for a stream to arrive (default 10 s). */
  flvWaitMs?: number;
  maxBacklogBytes?: number;
}

export interface LocalServer {
  readonly rtmp: RtmpSessionManager;
  readonly rtmpPort: number | undefined;
  readonly httpPort: number | undefined;
  close(reason?: string): Promise<void>;
}

const acceptValidName: SessionContext['authorizePublish'] = async (_app, key) =>
  isValidStreamName(key) ? { ok: true, streamId: key } : { ok: false, code: 'BadName', reason: 'invalid stream name' };

/**
 * A small RTMP (+ HTTP-FLV) front on a hub, for the KCP bridges on a
 * laptop: the same sessions and viewers as the media service, without keys,
 * HLS or metrics.
 */
export async function startLocalServer(opts: LocalServerOptions): Promise<LocalServer> {
  const maxBacklogBytes = opts.maxBacklogBytes ?? 4 * 1024 * 1024;
  const authorizePlay = opts.authorizePlay ?? (async () => true);
  const egress = new EgressMeter();
  const rtmp = new RtmpSessionManager((protocol, remoteAddress) => ({
    hub: opts.hub,
    logger: opts.logger,
    protocol,
    remoteAddress,
    authorizePublish: opts.authorizePublish ?? acceptValidName,
    authorizePlay,
    maxViewerBacklogBytes: maxBacklogBytes,
    egress,
    acceptingPublishers: () => true,
    // A bridge forwards whatever app it is given; the server behind it decides.
    servesApp: () => true,
    playWaitMs: DEFAULT_PLAY_WAIT_MS,
  }), DEFAULT_RTMP_LIMITS, opts.logger);

  const rtmpServer = opts.rtmpPort === undefined ? null : await listenRtmpTcp(rtmp, opts.host, opts.rtmpPort);
  let httpServer: http.Server | null = null;
  let httpPort: number | undefined;
  if (opts.httpPort !== undefined) {
    httpServer = createHttpServer([
      onDemandFlvRoute({ hub: opts.hub, maxBacklogBytes, authorizePlay, egress, waitMs: opts.flvWaitMs ?? 10_000 }),
    ], opts.logger);
    httpPort = await listenHttp(httpServer, opts.host, opts.httpPort);
  }
  return {
    rtmp,
    rtmpPort: rtmpServer ? (rtmpServer.address() as net.AddressInfo).port : undefined,
    httpPort,
    async close(reason = 'bridge stopped') {
      rtmpServer?.close();
      rtmp.closeAll(reason);
      if (httpServer) {
        const server = httpServer;
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
    },
  };
}
