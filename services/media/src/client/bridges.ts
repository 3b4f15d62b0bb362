import type { KcpTuning } from 'kcp-ts';
import { isWellFormedStreamKey, publishProof } from '@bridgecast/stream-keys';
import { StreamHub } from '../hub/stream-hub.js';
import { DEFAULT_LIVE_DEADLINE_MS } from '../kcp-config.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Backoff } from '../relay/backoff.js';
import type { LinkReporter } from '../relay/link-state.js';
import { fixedOrigin, RelayPullManager } from '../relay/pull.js';
import { RelayPushManager } from '../relay/push.js';
import { startLocalServer, type LocalServer } from './local-server.js';

/**
 * The KCP bridges: relays run on a laptop so tools that only speak RTMP or
 * HTTP-FLV (OBS, ffmpeg, VLC, a browser) can use KCP today. They are the
 * server's relays with a local front: kcp-push is an origin pushing every
 * stream to one server, kcp-pull an edge pulling on demand from one.
 */
export interface BridgeOptions {
  /** The server: kcp://host:port (or rtmp://host:port to compare). */
  server: URL;
  /** Local interface to listen on (127.0.0.1 keeps the bridge private). */
  host: string;
  report: LinkReporter;
  logger?: Logger;
  backoff?: () => Backoff;
  /** KCP tuning of kcp:// links (default: kcp-ts's live-video preset). */
  kcpTuning?: KcpTuning;
  /** Live deadline of the kcp-push link, ms (default DEFAULT_LIVE_DEADLINE_MS; 0: off). See hub/live-deadline.ts. */
  liveDeadlineMs?: number;
}

export interface Bridge {
  readonly hub: StreamHub;
  readonly local: LocalServer;
  close(): Promise<void>;
}

/** Stops the relays first (so nothing reconnects), then the streams, then the listeners. */
async function closeBridge(relays: { close(reason: string): void }, hub: StreamHub, local: LocalServer): Promise<void> {
  relays.close('bridge stopped');
  hub.closeAll('bridge stopped');
  await local.close();
}

export interface PushBridge extends Bridge {
  readonly pushes: RelayPushManager;
}

/**
 * What a publisher sends as its stream name to `server`: over KCP (UDP, on
 * a path anyone may read) a stream key is replaced by a proof of it bound to
 * this session (see publish-proof.ts), so a captured publish cannot be
 * replayed; over TCP the name goes as is.
 */
export function publishNameFor(server: URL, app: string, name: string, serverNonce: Buffer | undefined): string {
  if (server.protocol !== 'kcp:' || !isWellFormedStreamKey(name)) return name;
  if (!serverNonce) throw new Error('no session nonce: the RTMP handshake did not complete');
  return publishProof(name, app, serverNonce);
}

/**
 * kcp-push: a local RTMP server; each stream published to it
 * (rtmp://127.0.0.1:<port>/<app>/<streamKey>) is published to the server
 * over KCP with the same app and a proof of the key (never the key itself),
 * so the server checks the stream key as usual. If the server refuses it,
 * the local publisher is disconnected so the encoder shows the failure.
 */
export async function startPushBridge(opts: BridgeOptions & { rtmpPort: number; maxBacklogBytes?: number }): Promise<PushBridge> {
  const hub = new StreamHub();
  const local = await startLocalServer({ hub, logger: opts.logger ?? silentLogger, host: opts.host, rtmpPort: opts.rtmpPort });
  const report: LinkReporter = (change) => {
    opts.report(change);
    if (change.state !== 'refused') return;
    const [app = '', name = ''] = change.stream.split('/');
    hub.get(app, name)?.publisher.disconnect(`server refused the stream: ${change.detail}`);
  };
  const pushes = new RelayPushManager(hub, [{ url: opts.server, streams: ['*/*'] }], {
    publishName: (app, name, serverNonce) => publishNameFor(opts.server, app, name, serverNonce),
    maxBacklogBytes: opts.maxBacklogBytes ?? 8 * 1024 * 1024,
    report,
    backoff: opts.backoff,
    kcpTuning: opts.kcpTuning,
    liveDeadlineMs: opts.liveDeadlineMs ?? DEFAULT_LIVE_DEADLINE_MS,
  });
  return { hub, local, pushes, close: () => closeBridge(pushes, hub, local) };
}

export interface PullBridge extends Bridge {
  readonly pulls: RelayPullManager;
}

/**
 * kcp-pull: plays streams from the server over KCP when someone asks for
 * them locally — HTTP-FLV on `httpPort` (/<app>/<stream>.flv) and, if
 * given, RTMP on `rtmpPort` — and stops a pull `idleMs` after its last
 * local viewer left.
 */
export async function startPullBridge(opts: BridgeOptions & { httpPort: number; rtmpPort?: number; idleMs?: number; giveUpMs?: number }): Promise<PullBridge> {
  const hub = new StreamHub();
  const pulls = new RelayPullManager({
    hub,
    origin: fixedOrigin(opts.server),
    playName: (_app, name) => name,
    idleMs: opts.idleMs ?? 5000,
    giveUpMs: opts.giveUpMs ?? 10 * 60_000,
    report: opts.report,
    backoff: opts.backoff,
    kcpTuning: opts.kcpTuning,
  });
  const local = await startLocalServer({ hub, logger: opts.logger ?? silentLogger, host: opts.host, rtmpPort: opts.rtmpPort, httpPort: opts.httpPort });
  return { hub, local, pulls, close: () => closeBridge(pulls, hub, local) };
}
