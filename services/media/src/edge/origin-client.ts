import type { Logger } from '../logger.js';
import { relayListAuthorization } from '../relay/relay-token.js';
import type { EdgeLinkRecord } from './link-record.js';
import { RELAY_LIST_PATH, type ListedStreamInfo, type RelayListing } from './relay-listing.js';

/** Signatures live a minute, as relay names do. */
const TOKEN_TTL_SECONDS = 60;
const REQUEST_TIMEOUT_MS = 5000;

/**
 * The edge's HTTP client of the origin's /api/relay/live (EDGE_ORIGIN_API):
 * each request signed afresh with the relay secret, which never leaves this
 * object (not in URLs, not in logs: failures log the origin's address and
 * status only). A change between working and failing is logged once.
 */
export class OriginListingClient {
  private failing = false;
  failures = 0;

  constructor(
    private readonly api: URL,
    private readonly edge: string,
    private readonly secret: string,
    private readonly logger: Logger,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  /** Sends this edge's view of its links and returns the origin's listing; undefined when the origin cannot be asked now. */
  async list(links: EdgeLinkRecord[]): Promise<RelayListing | undefined> {
    const res = await this.request(RELAY_LIST_PATH, { method: 'POST', body: JSON.stringify({ links }), headers: { 'Content-Type': 'application/json' } });
    return res as RelayListing | undefined;
  }

  /** One stream's privacy at the origin; undefined when the origin cannot be asked (the caller refuses). */
  async stream(streamId: string): Promise<ListedStreamInfo | undefined> {
    return (await this.request(`${RELAY_LIST_PATH}/${encodeURIComponent(streamId)}`, { method: 'GET' })) as ListedStreamInfo | undefined;
  }

  private async request(path: string, init: RequestInit): Promise<unknown> {
    const url = new URL(path, this.api);
    try {
      const res = await this.fetchImpl(url, {
        ...init,
        headers: { ...(init.headers as Record<string, string> | undefined), Authorization: relayListAuthorization(this.secret, this.edge, TOKEN_TTL_SECONDS) },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(res.status === 403 ? 'HTTP 403: the origin refused the relay signature (is RELAY_SECRET the origin\'s?)' : `HTTP ${res.status}`);
      }
      const body = await res.json();
      if (this.failing) this.logger.info({ origin: this.api.origin }, 'origin listing reachable again');
      this.failing = false;
      return body;
    } catch (err) {
      this.failures++;
      if (!this.failing) this.logger.warn({ origin: this.api.origin, error: (err as Error).message }, 'origin listing unavailable; current links continue, retrying every 2 s');
      this.failing = true;
      return undefined;
    }
  }
}
