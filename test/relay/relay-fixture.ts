/**
 * A media server with relays, for the relay tests: startTestServer plus
 * attachRelays on its hub, and a "relay front" — RTMP (TCP), KCP and
 * on-demand HTTP-FLV listeners whose authorizers consult the relay
 * authorizer first, exactly as server.ts is to wire them. Publishing without
 * a relay token is refused at the front (it stands in for stream keys);
 * plain publishes go to the test server's own RTMP port instead.
 */
import net from 'node:net';
import { startLocalServer, type LocalServer } from '@bridgecast/media/client/local-server.js';
import { KcpServerEndpoint } from 'kcp-ts/node';
import { silentLogger } from '@bridgecast/media/logger.js';
import { attachRelays, type Relays } from '@bridgecast/media/relay/index.js';
import type { LinkStateChange } from '@bridgecast/media/relay/link-state.js';
import type { PushTarget } from '@bridgecast/media/relay/relay-config.js';
import { startTestServer, type TestServer } from '../helpers/media-server.js';

export interface RelayNodeOptions {
  serverId: string;
  secret?: string;
  origin?: URL;
  push?: PushTarget[];
  idleSeconds?: number;
  /** Playback without a relay token allowed at the front (default true). */
  publicPlay?: boolean;
}

export interface RelayNode {
  server: TestServer;
  readonly relays: Relays;
  /** Replaces the relay configuration (to build A↔B loops, where each needs the other's address). */
  reconfigure(origin: URL | undefined, push?: PushTarget[]): void;
  front: LocalServer;
  kcp: KcpServerEndpoint;
  /** Every relay state change on this node, in order. */
  changes: LinkStateChange[];
  /** rtmp://127.0.0.1:<front port> */
  rtmpUrl: URL;
  /** kcp://127.0.0.1:<kcp port> */
  kcpUrl: URL;
  /** On-demand HTTP-FLV at the front. */
  flvUrl(name: string): string;
  close(): Promise<void>;
}

export async function startRelayNode(opts: RelayNodeOptions): Promise<RelayNode> {
  const server = await startTestServer();
  const changes: LinkStateChange[] = [];
  const attach = (origin: URL | undefined, push: PushTarget[]) => attachRelays(server.hub, {
    serverId: opts.serverId, secret: opts.secret, origin, push,
    idleSeconds: opts.idleSeconds ?? 1, tokenTtlSeconds: 60,
  }, silentLogger, { maxBacklogBytes: 4 * 1024 * 1024, report: (c) => changes.push(c) });
  let relays = attach(opts.origin, opts.push ?? []);
  const front = await startLocalServer({
    hub: server.hub, logger: silentLogger, host: '127.0.0.1', rtmpPort: 0, httpPort: 0,
    authorizePublish: async (app, key, _remote, query) =>
      relays.authorizer.authorizePublish(app, key, query) ?? { ok: false, code: 'Unauthorized', reason: 'stream key required' },
    authorizePlay: async (app, name, query) => relays.authorizer.authorizePlay(app, name, query) ?? (opts.publicPlay ?? true),
  });
  const kcp = new KcpServerEndpoint({ host: '127.0.0.1', port: 0 });
  kcp.on('session', (stream, info) => {
    front.rtmp.accept(stream, 'kcp', info.address, () => stream.markVerified());
  });
  const { port: kcpPort } = await kcp.listen();
  return {
    server, front, kcp, changes,
    get relays() { return relays; },
    reconfigure(origin, push = []) {
      relays.close('reconfigured');
      relays = attach(origin, push);
    },
    rtmpUrl: new URL(`rtmp://127.0.0.1:${front.rtmpPort}`),
    kcpUrl: new URL(`kcp://127.0.0.1:${kcpPort}`),
    flvUrl: (name) => `http://127.0.0.1:${front.httpPort}/live/${name}.flv`,
    async close() {
      relays.close();
      await front.close();
      await server.close();
      await kcp.close();
    },
  };
}

/** A TCP proxy whose connections can be cut at once: a network break for RTMP-over-TCP relays. */
export async function startBreakableProxy(targetPort: number): Promise<{ url: URL; connections: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: new URL(`rtmp://127.0.0.1:${port}`),
    get connections() { return connections; },
    cut: () => { for (const s of sockets) s.destroy(); },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** States a node reported for app/name, in order. */
export function statesOf(node: RelayNode, direction: 'pull' | 'push', stream = 'live/cam'): string[] {
  return node.changes.filter((c) => c.direction === direction && c.stream === stream).map((c) => c.state);
}
