import type { PublishDecision } from '../rtmp/server-session.js';
import { parseRelayQuery, signedRelayName, verifyRelayToken } from './relay-token.js';

export type RelayCheck =
  | { relay: false }
  | { relay: true; ok: true; via: string[] }
  | { relay: true; ok: false; reason: string };

/** How long a relay request's via-chain is remembered for the pull or push it triggers. */
const VIA_MEMORY_MS = 30_000;
const VIA_MEMORY_MAX = 4096;

/**
 * This server's side of relay authentication and loop refusal. The server's
 * authorizePublish/authorizePlay ask it first: a request with relay
 * parameters is decided here (valid token: allowed, bypassing stream keys and
 * play tokens; own id in the via-chain: refused as a loop), anything else is
 * left to the normal checks.
 *
 * It also remembers the via-chain each accepted relay request arrived with,
 * so the pull (hub 'demand') or push (hub 'publish') that request triggers
 * extends that chain instead of starting a new one.
 */
export class RelayAuthorizer {
  private readonly chains = new Map<string, { via: string[]; at: number }>();

  constructor(
    readonly serverId: string,
    private readonly secret: string | undefined,
    private readonly tokenTtlSeconds = 60,
    private readonly now: () => number = Date.now,
  ) {}

  check(app: string, name: string, query: URLSearchParams): RelayCheck {
    const parsed = parseRelayQuery(query);
    if (parsed === null) return { relay: false };
    if (parsed === 'malformed') return { relay: true, ok: false, reason: 'malformed relay parameters' };
    if (this.secret === undefined) return { relay: true, ok: false, reason: 'relays are not enabled here (no RELAY_SECRET)' };
    const verdict = verifyRelayToken(this.secret, { app, name, expiresAt: parsed.expiresAt, via: parsed.via }, parsed.token, this.now() / 1000);
    if (verdict !== 'ok') return { relay: true, ok: false, reason: `relay token ${verdict}` };
    if (parsed.via.includes(this.serverId)) {
      return { relay: true, ok: false, reason: `relay loop: ${parsed.via.join(' → ')} → ${this.serverId}` };
    }
    this.remember(app, name, parsed.via);
    return { relay: true, ok: true, via: parsed.via };
  }

  /** null: not a relay publish, apply stream keys. */
  authorizePublish(app: string, name: string, query: URLSearchParams): PublishDecision | null {
    const result = this.check(app, name, query);
    if (!result.relay) return null;
    return result.ok ? { ok: true, streamId: name } : { ok: false, code: 'Unauthorized', reason: result.reason };
  }

  /** null: not a relay play, apply play tokens. */
  authorizePlay(app: string, name: string, query: URLSearchParams): boolean | null {
    const result = this.check(app, name, query);
    return result.relay ? result.ok : null;
  }

  /** The chain an outgoing relay request for app/name carries: the incoming chain (if any) plus this server. */
  outgoingVia(app: string, name: string): string[] {
    const key = `${app}/${name}`;
    const entry = this.chains.get(key);
    const fresh = entry && this.now() - entry.at < VIA_MEMORY_MS ? entry.via : [];
    return [...fresh, this.serverId];
  }

  /** The stream name an outgoing relay request uses: signed when a secret is set, plain otherwise. */
  outgoingName(app: string, name: string): string {
    if (this.secret === undefined) return name;
    return signedRelayName(this.secret, app, name, this.outgoingVia(app, name), this.tokenTtlSeconds, this.now() / 1000);
  }

  private remember(app: string, name: string, via: string[]): void {
    const key = `${app}/${name}`;
    this.chains.delete(key); // re-insert so Map order stays oldest-first
    this.chains.set(key, { via, at: this.now() });
    if (this.chains.size > VIA_MEMORY_MAX) this.chains.delete(this.chains.keys().next().value!);
  }
}
