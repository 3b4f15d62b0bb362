import type { IncomingMessage } from 'node:http';
import type { LiveLease } from '../../cluster/lease.js';
import { parseReportedRecord, type EdgeLinkRecord, type EdgeLinkStore } from '../../edge/link-record.js';
import { RELAY_LIST_PATH, type ListedStreamInfo, type RelayListing } from '../../edge/relay-listing.js';
import type { Logger } from '../../logger.js';
import { verifyRelayListAuthorization } from '../../relay/relay-token.js';
import { isValidStreamName } from '../../rtmp/names.js';
import type { Route } from '../http-server.js';
import { BodyTooLargeError, readBody } from '../request-body.js';
import { sendError, sendJson } from '../responses.js';

export interface RelayListOptions {
  /** RELAY_SECRET; without it every request is refused (relays are not enabled). */
  secret: string | undefined;
  /** The cluster's live streams (the registry). */
  liveStreams(): Promise<LiveLease[]>;
  isPrivate(streamId: string): Promise<boolean>;
  /** The public keys playback credentials are checked with here, as PEM. */
  publicKeys(): Record<string, string>;
  /** Where edge links are recorded (this cluster's table): the edges' own reports go in, their links as the origin saw them come out. */
  links: EdgeLinkStore;
  /** Refused requests by reason (missing, malformed, expired, bad-signature, no-secret): exported on /metrics. */
  refusals: Map<string, number>;
  logger: Logger;
}

/** An edge's report of its links: a few per stream it carries. */
const MAX_REPORT_BYTES = 256 * 1024;
const MAX_REPORTED_LINKS = 2000;

/**
 * The origin's side of edge discovery. An edge (any of its tasks) asks every
 * couple of seconds, with `Authorization: Relay <edge>.<exp>.<hmac>` made
 * with the relay secret:
 *
 *   GET  /api/relay/live             the live streams, privacy, public keys, its links as seen here
 *   POST /api/relay/live             the same, sending its own view of its links ({ links: [...] })
 *   GET  /api/relay/live/<streamId>  one stream's privacy (a viewer asked the edge before it went live)
 *
 * Not /api/live: that is for operators; this is for servers holding the
 * secret. A request without a valid signature gets 403, is counted by
 * reason and logged with the caller's address, never with what it sent.
 */
export function relayListRoute(opts: RelayListOptions): Route {
  return async (req, res, path) => {
    if (path !== RELAY_LIST_PATH && !path.startsWith(`${RELAY_LIST_PATH}/`)) return false;
    if (req.method !== 'GET' && req.method !== 'POST') {
      sendError(res, 405, 'method_not_allowed', 'GET or POST', { Allow: 'GET, POST' });
      return true;
    }
    const check = opts.secret === undefined
      ? { ok: false as const, reason: 'no-secret' as const }
      : verifyRelayListAuthorization(opts.secret, req.headers.authorization);
    if (!check.ok) {
      opts.refusals.set(check.reason, (opts.refusals.get(check.reason) ?? 0) + 1);
      opts.logger.warn({ remoteAddress: req.socket.remoteAddress, reason: check.reason }, 'relay listing refused');
      sendError(res, 403, 'forbidden', 'relay listing needs a valid relay signature');
      req.resume();
      return true;
    }
    const edge = check.edge;
    if (path !== RELAY_LIST_PATH) {
      const id = path.slice(RELAY_LIST_PATH.length + 1);
      if (!isValidStreamName(id)) {
        sendError(res, 400, 'bad_request', 'not a stream id');
        return true;
      }
      const live = (await opts.liveStreams()).some((l) => l.name === id);
      const info: ListedStreamInfo = { name: id, private: await opts.isPrivate(id), live };
      sendJson(res, 200, info);
      return true;
    }
    if (req.method === 'POST' && !(await storeReports(req, edge, opts))) {
      sendError(res, 413, 'payload_too_large', `at most ${MAX_REPORT_BYTES} bytes`, { Connection: 'close' });
      return true;
    }
    const [leases, links] = await Promise.all([opts.liveStreams(), opts.links.list()]);
    const listing: RelayListing = {
      streams: await Promise.all(leases.map(async (l) => ({ app: l.app, name: l.name, private: await opts.isPrivate(l.name), clockOffsetMs: l.clockOffsetMs ?? null, lastMediaAt: l.lastMediaAt }))),
      publicKeys: opts.publicKeys(),
      links: freshestPerStream(links.filter((r) => r.edge === edge && r.side === 'origin')),
    };
    sendJson(res, 200, listing);
    return true;
  };
}

/** Stores the edge's own view of its links; false when the body is too large. Malformed entries are dropped and logged once per request. */
async function storeReports(req: IncomingMessage, edge: string, opts: RelayListOptions): Promise<boolean> {
  let body: Buffer;
  try {
    body = await readBody(req, MAX_REPORT_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLargeError) return false;
    throw err;
  }
  let reported: unknown[] = [];
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { links?: unknown };
    if (Array.isArray(parsed.links)) reported = parsed.links.slice(0, MAX_REPORTED_LINKS);
  } catch {
    reported = [];
  }
  const now = Date.now();
  const records = reported.map((r) => parseReportedRecord(r, edge, now)).filter((r): r is EdgeLinkRecord => r !== undefined);
  if (records.length < reported.length) opts.logger.warn({ edge, dropped: reported.length - records.length }, 'edge link report: malformed entries dropped');
  try {
    await Promise.all(records.map((r) => opts.links.put(r)));
  } catch (err) {
    opts.logger.error({ err, edge }, 'edge link report not stored');
  }
  return true;
}

/** One record per stream, the newest: after the link moved to another origin task, the old task's record is history. */
function freshestPerStream(records: EdgeLinkRecord[]): EdgeLinkRecord[] {
  const newest = new Map<string, EdgeLinkRecord>();
  for (const r of records) {
    const key = `${r.app}/${r.name}`;
    const current = newest.get(key);
    if (!current || current.updatedAt < r.updatedAt) newest.set(key, r);
  }
  return [...newest.values()];
}
