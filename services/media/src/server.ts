import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import type https from 'node:https';
import type net from 'node:net';
import { hlsKeys } from '@bridgecast/contracts';
import type { StreamKeyStore } from '@bridgecast/stream-keys';
import { createLocalApiHandler } from './auth/api-adapter.js';
import { loadPlaybackKeys, PlaybackAccess } from './auth/playback-access.js';
import { KeyAuthorizedStreams } from './auth/key-authorized-streams.js';
import { startRevocationWatch } from './auth/revocation-watch.js';
import { setUpPublishAuth } from './auth/stream-keys-setup.js';
import { listenOrExplain } from './config-error.js';
import { loadConfig, type MediaConfig } from './config.js';
import { EgressMeters } from './hub/egress-meter.js';
import { StreamHub } from './hub/stream-hub.js';
import { WriteFlusher } from './hub/write-batch.js';
import { handleFlvRequest } from './http/flv-route.js';
import { createHttpServer, createHttpsServer, listenHttp, type Route } from './http/http-server.js';
import { hlsRoute } from './http/hls-route.js';
import { healthRoute } from './http/routes/health.js';
import { keysApiRoute } from './http/routes/keys-api.js';
import { liveListRoute } from './http/routes/live-list.js';
import { metricsRoute } from './http/routes/metrics.js';
import { webPageRoute } from './http/web-page.js';
import { describeClusterStream, describeLiveStream, withEdgeLinks } from './http/stream-list.js';
import { streamStateRoute } from './http/stream-state.js';
import { attachHls, HLS_APP, type HlsAttachment } from './hls/hls-writer.js';
import type { KcpServerEndpoint } from 'kcp-ts/node';
import { listenRtmpOverKcp } from './ingest/rtmp-over-kcp.js';
import { createLogger, type Logger } from './logger.js';
import { lockDataDir } from './storage/data-dir-lock.js';
import { LocalObjectStore } from './storage/local-object-store.js';
import { listLocalRecordings, startRecordingRetention } from './storage/local-recordings.js';
import { startCloudReporting } from './scaling/cloud-reporting.js';
import { openHlsStore } from './storage/open-hls-store.js';
import { registerHlsMetrics } from './metrics/hls-metrics.js';
import { registerEdgeLinkMetrics } from './metrics/edge-link-metrics.js';
import { registerKcpMetrics } from './metrics/kcp-metrics.js';
import { MediaMetrics } from './metrics/metrics.js';
import { onDemandFlvRoute } from './relay/demand.js';
import { attachRelays } from './relay/index.js';
import { Backoff } from './relay/backoff.js';
import { logLinkState } from './relay/link-state.js';
import { RelayPullManager } from './relay/pull.js';
import { joinCluster } from './cluster/cluster-setup.js';
import { EdgeRuntime } from './edge/edge-runtime.js';
import { OriginLinkReporter } from './edge/origin-links.js';
import { relayListRoute } from './http/routes/relay-live.js';
import { listenRtmpTcp, RtmpSessionManager, type RtmpServerLimits } from './rtmp/rtmp-server.js';
import type { PublishDecision } from './rtmp/server-session.js';

export interface MediaServer {
  readonly config: MediaConfig;
  readonly logger: Logger;
  readonly hub: StreamHub;
  readonly metrics: MediaMetrics;
  readonly rtmp: RtmpSessionManager;
  readonly rtmpPort: number;
  readonly httpPort: number;
  /** RTMPS and HTTPS ports; undefined without TLS_CERT_FILE / TLS_KEY_FILE. */
  readonly rtmpsPort: number | undefined;
  readonly httpsPort: number | undefined;
  /** The bound UDP port of RTMP over KCP; undefined when KCP is off. */
  readonly kcpPort: number | undefined;
  readonly kcp: KcpServerEndpoint | undefined;
  /** The stream-keys table (AUTH=keys); undefined with AUTH=none. */
  readonly streamKeys: StreamKeyStore | undefined;
  /** Stops taking publishers, ends streams, flushes HLS, closes listeners. */
  close(reason?: string): Promise<void>;
}

export interface StartOptions extends Partial<MediaConfig> {
  logger?: Logger;
  rtmpLimits?: Partial<RtmpServerLimits>;
}

/** How long an HTTP-FLV request on a relay edge waits for the pull it triggered. */
const RELAY_PULL_WAIT_MS = 10_000;

/** Starts the media service: RTMP over TCP and KCP, HTTP, and the parts the configuration enables. */
export async function startMediaServer(options: StartOptions = {}): Promise<MediaServer> {
  const { logger: givenLogger, rtmpLimits, ...overrides } = options;
  const config: MediaConfig = { ...loadConfig(), ...overrides };
  const dataDirLock = await lockDataDir(config.dataDir);
  const logger = givenLogger ?? createLogger(config.logLevel);
  const hub = new StreamHub({ publisherTakeoverMs: config.limits.publisherTakeoverMs });
  const egress = new EgressMeters();
  let accepting = true;

  const publishAuth = await setUpPublishAuth(config, logger);
  const relays = attachRelays(hub, config.relay, logger, { maxBacklogBytes: config.viewerBacklogBytes, kcpTuning: config.kcp.tuning, liveDeadlineMs: config.kcp.liveDeadlineMs });
  // Filled in once the listeners are bound: the other tasks reach this one there.
  const bound = { rtmpPort: 0, kcpPort: undefined as number | undefined, httpPort: 0 };
  const cluster = await joinCluster(config, hub, () => bound, logger);
  // In a cluster, a viewer of a stream published on another task is served
  // through a pull from that task (the registry names it), shared by this
  // task's viewers and ended after the last one leaves. The pull re-asks the
  // registry on every reconnect, so it follows the stream to a new owner.
  // Backoff capped at 1 s: after an owner dies the stream is back as soon as
  // the encoder has reconnected to another task.
  const clusterPulls = cluster.shared && !relays.pulls
    ? new RelayPullManager({
      hub,
      origin: async (app, name) => {
        const lease = await cluster.registry.ownerElsewhere(app, name);
        return lease && new URL(`rtmp://${lease.address.includes(':') ? `[${lease.address}]` : lease.address}:${lease.rtmpPort}`);
      },
      playName: (app, name) => relays.authorizer.outgoingName(app, name),
      idleMs: config.relay.idleSeconds * 1000,
      report: logLinkState(logger),
      backoff: () => new Backoff(250, 1000),
      clusterPull: true,
    })
    : null;
  const playbackKeys = await loadPlaybackKeys({ publicKeysJson: config.playbackPublicKeys, dataDir: config.dataDir, localSigner: publishAuth.embedded });
  // An edge: this task carries the origin's streams across (when it wins their lease in the edge's registry) and
  // decides its viewers as the origin would, from the origin's listing (privacy) and public keys.
  const edge = config.edge && config.relay.secret !== undefined
    ? new EdgeRuntime({
      config: config.edge, taskId: config.relay.serverId, secret: config.relay.secret, hub, registry: cluster.registry,
      authorizer: relays.authorizer, links: cluster.links, verifier: playbackKeys.verifier, kcpTuning: config.kcp.tuning,
      idleMs: config.relay.idleSeconds * 1000, report: logLinkState(logger), logger,
    })
    : undefined;
  const playback = new PlaybackAccess({ store: edge ?? publishAuth.store, verifier: playbackKeys.verifier, playTokenSecret: config.playTokenSecret, logger });
  const tlsFiles = config.tlsCertFile && config.tlsKeyFile
    ? { cert: await readFile(config.tlsCertFile), key: await readFile(config.tlsKeyFile) }
    : undefined;
  // Relay requests (signed by the shared secret) are decided by the relay
  // authorizer; everything else by stream keys and play tokens.
  const keyAuthorized = new KeyAuthorizedStreams();
  const authorizePublish = async (
    app: string, key: string, remoteAddress: string, query: URLSearchParams, serverNonce: Buffer | undefined, requireProof: boolean,
  ): Promise<PublishDecision> => {
    if (config.edge) {
      return { ok: false, code: 'Edge', reason: `this server is an edge (${config.edge.name}) that relays ${config.edge.origin.hostname}; publish at the origin: rtmp://${config.edge.origin.hostname}/${app}/<stream key>` };
    }
    const relayDecision = relays.authorizer.authorizePublish(app, key, query);
    if (relayDecision) return relayDecision.ok ? claimLease(app, relayDecision.streamId, relayDecision) : relayDecision;
    if (hub.publishedHere().length >= config.limits.maxPublishers) {
      logger.warn({ remoteAddress, maxPublishers: config.limits.maxPublishers }, 'publish refused: publisher limit reached');
      return { ok: false, code: 'RateLimited', reason: 'this server is full; reconnect to another instance' };
    }
    const decision = await publishAuth.authorizer.authorizePublish({ app, key, remoteAddress, serverNonce, requireProof });
    if (!decision.ok) return decision;
    const claimed = await claimLease(app, decision.streamId, decision);
    if (claimed.ok) keyAuthorized.add(decision.streamId);
    return claimed;
  };
  // One publisher per stream in the whole cluster: the registry's lease decides (see cluster/lease.ts).
  const claimLease = async (app: string, streamId: string, decision: PublishDecision): Promise<PublishDecision> => {
    const claim = await cluster.registry.claim(app, streamId);
    return claim.ok ? decision : { ok: false, code: 'BadName', reason: claim.reason };
  };
  const authorizePlay = async (app: string, name: string, query: URLSearchParams, remoteAddress: string): Promise<boolean> =>
    relays.authorizer.authorizePlay(app, name, query) ?? playback.authorizeStreamPlay(app, name, query, remoteAddress);

  const writeFlusher = new WriteFlusher(config.writeMergeMs);
  let metrics: MediaMetrics | undefined;
  const rtmp = new RtmpSessionManager((protocol, remoteAddress) => ({
    hub,
    logger,
    protocol,
    remoteAddress,
    // KCP travels over UDP, readable and replayable on the path: there a publish must prove the key, not send it.
    authorizePublish: (app, key, address, query, serverNonce) => authorizePublish(app, key, address, query, serverNonce, protocol === 'kcp'),
    authorizePlay,
    maxViewerBacklogBytes: config.viewerBacklogBytes,
    liveDeadlineMs: config.kcp.liveDeadlineMs,
    acceptingPublishers: () => accepting,
    egress: egress.meter(protocol),
    writeFlusher,
    onPublishRefused: (code) => metrics?.publishRefused.inc({ code }),
    servesApp: (app) => config.apps.includes(app),
    playWaitMs: config.limits.playWaitMs,
  }), { ...config.limits.rtmp, ...rtmpLimits }, logger);

  const kcp = config.kcpEnabled
    ? await listenOrExplain('KCP (UDP)', 'KCP_PORT', config.kcpPort,
      () => listenRtmpOverKcp(rtmp, { host: config.host, port: config.kcpPort, tuning: config.kcp.tuning, limits: config.limits.kcp, fec: config.kcp.fec, socketBufferBytes: config.kcp.socketBufferBytes }, logger))
    : undefined;
  // HLS is written in process, to DATA_DIR/hls or to S3 (HLS_BUCKET).
  const hlsStore = config.hlsEnabled ? await openHlsStore(config, logger) : undefined;
  // On local disk nothing runs the recording indexer: the writer adds vod.m3u8 itself, and retention bounds the disk.
  const localHlsRoot = hlsStore instanceof LocalObjectStore ? hlsStore.rootDir : undefined;
  const hls: HlsAttachment | undefined = hlsStore && attachHls(hub, hlsStore, {
    segmentSeconds: config.hlsSegmentSeconds, windowSegments: config.hlsWindow, logger, writeVodPlaylist: localHlsRoot !== undefined,
  });
  const retention = localHlsRoot === undefined ? undefined
    : startRecordingRetention(localHlsRoot, { maxBytes: config.recordingsMaxBytes, maxDays: config.recordingsMaxDays }, logger);
  const relayListRefusals = new Map<string, number>();
  metrics = new MediaMetrics({ hub, egress, rtmp, playbackRefusals: playback.refusals }, [
    registerEdgeLinkMetrics({ links: () => edgeLinks(), listRefusals: relayListRefusals, listingFailures: () => edge?.listingFailures }),
    ...(kcp ? [registerKcpMetrics(kcp)] : []),
    ...(hls && hlsStore ? [registerHlsMetrics(hls, hlsStore)] : []),
  ]);

  // Links this task serves to edges (relay plays labelled with an edge's name): measured and recorded for /api/live.
  const originLinks = new OriginLinkReporter({ rtmp, hub, links: cluster.links, taskId: config.relay.serverId, logger });
  const edgeLinks = () => [...originLinks.records(), ...(edge?.linkRecords() ?? [])];
  // CloudWatch gets each link from the side that measured it (the edge's copy of the origin's figures stays out).
  const measuredLinks = () => edgeLinks().filter((r) => r.task === config.relay.serverId);
  const cloudReporting = await startCloudReporting(config, { hub, egress, kcp, edgeLinks: measuredLinks }, logger);

  // A revoked key's live publisher is cut off within seconds.
  const revocationWatch = startRevocationWatch({
    authorizer: publishAuth.authorizer,
    liveStreamIds: () => keyAuthorized.liveIds(hub),
    onRevoked: (streamId) => {
      logger.warn({ streamId }, 'stream revoked; disconnecting its publisher');
      for (const s of hub.list()) if (s.name === streamId) s.publisher.disconnect('stream key revoked');
    },
    logger,
  });

  const rtmpServer = await listenOrExplain('RTMP (TCP)', 'RTMP_PORT', config.rtmpPort, () => listenRtmpTcp(rtmp, config.host, config.rtmpPort));
  const rtmpPort = (rtmpServer.address() as net.AddressInfo).port;
  const rtmpsServer = tlsFiles
    ? await listenOrExplain('RTMPS (TCP)', 'RTMPS_PORT', config.rtmpsPort, () => listenRtmpTcp(rtmp, config.host, config.rtmpsPort, tlsFiles))
    : undefined;
  const rtmpsPort = rtmpsServer ? (rtmpsServer.address() as net.AddressInfo).port : undefined;
  const kcpPort = kcp?.address().port;
  bound.rtmpPort = rtmpPort;
  bound.kcpPort = kcpPort;

  let httpPort = config.httpPort;
  const flvOptions = {
    hub, maxBacklogBytes: config.viewerBacklogBytes, authorizePlay, egress: egress.meter('flv'), writeFlusher, appOrigins: config.playbackOrigins,
  };
  const liveStreams = () => hub.publishedHere().map((s) => describeLiveStream(s));
  // In a cluster, the live list is the registry's: every task answers the same; with the origin↔edge links of each stream.
  const linkSide = config.edge ? 'edge' : 'origin';
  const clusterLiveStreams = async () => {
    const [leases, links] = await Promise.all([cluster.registry.list(), cluster.links.list()]);
    return withEdgeLinks(leases.map((lease) => describeClusterStream(lease, hub.get(lease.app, lease.name))), links, linkSide);
  };
  const localLiveStreams = async () => withEdgeLinks(liveStreams(), await cluster.links.list(), linkSide);
  const routes: Route[] = [
    healthRoute({ accepting: () => accepting, streamCount: () => hub.list().length }),
    metricsRoute(() => metrics.registry),
    // The live list; also at GET /api/streams unless the local keys API owns that path (it then includes it).
    liveListRoute(publishAuth.embedded ? ['/api/live'] : ['/api/live', '/api/streams'], cluster.shared ? clusterLiveStreams : localLiveStreams, { apiToken: config.apiToken, publicHost: config.publicHost }),
    // What edges ask (signed with the relay secret): the live streams to carry across.
    relayListRoute({
      secret: config.relay.secret,
      liveStreams: () => cluster.registry.list(),
      isPrivate: (id) => playback.isPrivate(id),
      publicKeys: () => Object.fromEntries([...playbackKeys.verifier].map(([id, key]) => [id, key.export({ type: 'spki', format: 'pem' }).toString()])),
      links: cluster.links,
      refusals: relayListRefusals,
      logger,
    }),
  ];
  // Live / ended / offline / not found, for the watch page.
  const keyStore = publishAuth.store;
  routes.push(streamStateRoute({
    hub,
    app: HLS_APP,
    ...(cluster.shared ? { liveElsewhere: async (id: string) => (await cluster.registry.ownerElsewhere(HLS_APP, id)) !== undefined } : {}),
    ...(keyStore && config.auth === 'keys' ? { isKnownStream: (id: string) => keyStore.isStreamActive(id) } : {}),
    isPrivate: (id: string) => playback.isPrivate(id),
    ...(hlsStore ? { livePlaylist: async (id: string) => (await hlsStore.get(config.hlsPrefix + hlsKeys.livePlaylist(id)))?.toString('utf8') ?? null } : {}),
  }));
  // The stream-keys API is served here only when the table is embedded (a
  // laptop); in AWS it is API Gateway + Lambda with IAM auth, never the
  // media service's public port.
  if (publishAuth.store && publishAuth.embedded) {
    const api = createLocalApiHandler({
      store: publishAuth.store,
      urls: {
        ingestHost: config.publicHost,
        rtmpPort,
        kcpPort: kcpPort ?? config.kcpPort,
        ...(config.kcp.fec ? { kcpFec: `${config.kcp.fec.dataShards}:${config.kcp.fec.parityShards}` } : {}),
        // Read per request: the HTTP port is known once it listens (it may be 0 = any).
        get hlsBaseUrl() { return config.hlsBaseUrl ?? `http://${config.publicHost}:${httpPort}`; },
        get flvBaseUrl() { return config.flvBaseUrl ?? `http://${config.publicHost}:${httpPort}`; },
        ...(rtmpsPort !== undefined ? { rtmpsPort } : {}),
      },
      playbackSigner: playbackKeys.signer,
      apiToken: config.apiToken,
      publicHost: config.publicHost,
      logger,
      liveStreams,
      onStreamKeyChanged: (streamId) => publishAuth.authorizer.forgetStream(streamId),
      ...(localHlsRoot !== undefined ? { listRecordings: (streamId: string) => listLocalRecordings(localHlsRoot, streamId) } : {}),
    });
    routes.push(keysApiRoute(api));
  }
  // Local HLS serving (in AWS, CloudFront serves the bucket) and the web page.
  if (localHlsRoot !== undefined) {
    routes.push(hlsRoute(localHlsRoot, (req, streamId, url, query) => playback.authorizeHls(req, streamId, url, query), config.playbackOrigins));
  }
  routes.push(webPageRoute({ rtmpPort, apps: config.apps }));
  // On a relay edge, a request for a stream not here yet triggers the pull and waits for it.
  routes.push(relays.pulls || clusterPulls || edge
    ? onDemandFlvRoute({ ...flvOptions, waitMs: RELAY_PULL_WAIT_MS })
    : (req, res, path, query) => handleFlvRequest(req, res, path, query, flvOptions));

  const httpServer = createHttpServer(routes, logger, config.playbackOrigins);
  httpPort = await listenOrExplain('HTTP', 'HTTP_PORT', config.httpPort, () => listenHttp(httpServer, config.host, config.httpPort));
  bound.httpPort = httpPort;
  const httpsServer = tlsFiles ? createHttpsServer(tlsFiles, routes, logger, config.playbackOrigins) : undefined;
  const httpsPort = httpsServer
    ? await listenOrExplain('HTTPS', 'HTTPS_PORT', config.httpsPort, () => listenHttp(httpsServer, config.host, config.httpsPort))
    : undefined;

  let closing: Promise<void> | null = null;
  const close = (reason = 'server shutting down'): Promise<void> => {
    closing ??= (async () => {
      // Drain: refuse new publishers and fail health checks (the load balancer
      // stops sending new connections), give live broadcasts time to end on
      // their own, then cut the rest off: their encoders reconnect through the
      // load balancer and land on another task.
      accepting = false;
      const deadline = Date.now() + config.drainSeconds * 1000;
      // Pulls (from other tasks, or an edge's from the origin) do not hold the drain: their viewers reconnect to another task like any viewer.
      const publishers = () => hub.publishedHere().filter((s) => s.publisher.protocol !== 'relay').length;
      while (publishers() > 0 && Date.now() < deadline) await sleep(500);
      if (publishers() > 0) logger.warn({ streams: publishers() }, 'drain deadline reached; disconnecting publishers');
      revocationWatch.stop();
      await cloudReporting.stop();
      relays.close(reason);
      edge?.close(reason);
      originLinks.close();
      clusterPulls?.close(reason);
      rtmpServer.close();
      rtmpsServer?.close();
      hub.closeAll(reason);
      await cluster.close();
      rtmp.closeAll(reason);
      // The last segment, final playlists and end.json of every broadcast, uploaded before exit.
      retention?.stop();
      await hls?.close();
      await hlsStore?.close();
      await kcp?.close();
      await closeHttp(httpServer);
      if (httpsServer) await closeHttp(httpsServer);
      await publishAuth.close();
      await dataDirLock.release();
    })();
    return closing;
  };

  logger.info({ rtmpPort: rtmpPort, rtmpsPort, kcpPort, httpPort, httpsPort, auth: config.auth }, 'media service listening');
  return {
    config, logger, hub, metrics, rtmp, rtmpPort: rtmpPort, rtmpsPort, httpPort, httpsPort, kcpPort, kcp,
    streamKeys: publishAuth.store, close,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function closeHttp(server: http.Server | https.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
