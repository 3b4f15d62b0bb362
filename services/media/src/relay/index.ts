import type { KcpTuning } from 'kcp-ts';
import type { StreamHub } from '../hub/stream-hub.js';
import type { Logger } from '../logger.js';
import { logLinkState, type LinkReporter } from './link-state.js';
import { fixedOrigin, RelayPullManager } from './pull.js';
import { RelayPushManager } from './push.js';
import { RelayAuthorizer } from './relay-auth.js';
import type { RelayConfig } from './relay-config.js';

export interface Relays {
  /** Consult from authorizePublish/authorizePlay first (see attachRelays). */
  readonly authorizer: RelayAuthorizer;
  /** Pull on demand, when RELAY_ORIGIN is set. */
  readonly pulls: RelayPullManager | null;
  /** Push to the configured targets, when there are any. */
  readonly pushes: RelayPushManager | null;
  close(reason?: string): void;
}

export interface RelayOptions {
  /** Bytes queued towards a push target before it skips to the next keyframe (the viewers' limit). */
  maxBacklogBytes: number;
  report?: LinkReporter;
  /** KCP tuning of kcp:// links (default: kcp-ts's live-video preset). */
  kcpTuning?: KcpTuning;
  /** Live deadline of kcp:// push links, ms (0: off). */
  liveDeadlineMs?: number;
}

/**
 * Turns on the relays a server's configuration asks for. The server's
 * authorizers must consult `authorizer` first:
 *
 *   authorizePublish(app, key, remote, query) =
 *     relays.authorizer.authorizePublish(app, key, query) ?? <stream-key check>
 *   authorizePlay(app, name, query) =
 *     relays.authorizer.authorizePlay(app, name, query) ?? <play-token check>
 */
export function attachRelays(hub: StreamHub, config: RelayConfig, logger: Logger, options: RelayOptions): Relays {
  const authorizer = new RelayAuthorizer(config.serverId, config.secret, config.tokenTtlSeconds);
  const report = options.report ?? logLinkState(logger);
  const relayName = (app: string, name: string) => authorizer.outgoingName(app, name);
  const pulls = config.origin
    ? new RelayPullManager({ hub, origin: fixedOrigin(config.origin), playName: relayName, idleMs: config.idleSeconds * 1000, report, kcpTuning: options.kcpTuning })
    : null;
  const pushes = config.push.length > 0
    ? new RelayPushManager(hub, config.push, { publishName: relayName, maxBacklogBytes: options.maxBacklogBytes, report, kcpTuning: options.kcpTuning, liveDeadlineMs: options.liveDeadlineMs })
    : null;
  if (pulls || pushes) {
    logger.info({ serverId: config.serverId, origin: config.origin?.href, push: config.push.map((t) => `${t.url.href}=${t.streams.join('|')}`), authenticated: config.secret !== undefined }, 'relays enabled');
  }
  return {
    authorizer,
    pulls,
    pushes,
    close(reason = 'shutting down') {
      pulls?.close(reason);
      pushes?.close(reason);
    },
  };
}
