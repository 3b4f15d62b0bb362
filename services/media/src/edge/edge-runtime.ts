import { createPublicKey, type KeyObject } from 'node:crypto';
import type { KcpTuning } from 'kcp-ts';
import type { KcpStream } from 'kcp-ts/node';
import type { LiveRegistry } from '../cluster/live-registry.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { Logger } from '../logger.js';
import type { LinkReporter } from '../relay/link-state.js';
import { fixedOrigin, RelayPullManager, type RelayPull } from '../relay/pull.js';
import type { RelayAuthorizer } from '../relay/relay-auth.js';
import type { EdgeConfig } from './edge-config.js';
import { MISSING_GRACE_MS, planEdgePulls } from './edge-plan.js';
import { edgeSideHealth, LINK_REPORT_MS, stalledFor } from './link-health.js';
import type { EdgeLinkRecord, EdgeLinkStore } from './link-record.js';
import { hopDelay, periodFigures, readKcpCounters, type KcpCounters } from './link-sample.js';
import { OriginListingClient } from './origin-client.js';
import type { ListedStream } from './relay-listing.js';

export interface EdgeRuntimeOptions {
  config: EdgeConfig;
  /** This task's id (SERVER_ID). */
  taskId: string;
  secret: string;
  hub: StreamHub;
  /** The edge cluster's own registry: its leases decide which edge task carries a stream across. */
  registry: LiveRegistry;
  /** Signs the pulls (relay names with the via-chain). */
  authorizer: RelayAuthorizer;
  /** The edge cluster's record of its links (cluster-wide /api/live). */
  links: EdgeLinkStore;
  /** The keys private streams' credentials are checked with here: the origin's are added and kept current. */
  verifier: Map<string, KeyObject>;
  kcpTuning: KcpTuning;
  idleMs: number;
  report: LinkReporter;
  logger: Logger;
  fetchImpl?: typeof fetch;
}

/** A link that brought nothing for this long is reopened (see PullOptions.silenceTimeoutMs): the publisher takeover time. */
const LINK_SILENCE_MS = 5000;

/** A viewer's question about a stream the listing does not carry is asked again after this. */
const PRIVACY_LOOKUP_TTL_MS = 5000;

/**
 * An edge task's half of the cross-border link (see the README's "Edges"):
 * every LINK_REPORT_MS it sends the origin its view of the links it holds
 * and reads the origin's listing; for each stream to carry (every listed
 * one with EDGE_MODE=all, the watched ones with on-demand) it takes the
 * stream's lease in the edge's own registry and, only if it wins, pulls
 * the stream from EDGE_ORIGIN. The stream is then published here like any
 * other: this task writes its HLS to the edge's store and the edge's other
 * tasks get it by the cluster pull from this one. When this task dies its
 * lease runs out and another edge task, finding the stream listed and
 * unowned, takes it: its cluster pull's viewers are handed to the new
 * origin pull without reconnecting (StreamHub.startPublish).
 */
export class EdgeRuntime {
  /** This task's links to the origin (at most one per stream). */
  readonly pulls: RelayPullManager;
  private readonly client: OriginListingClient;
  private readonly timer: NodeJS.Timeout;
  private listed = new Map<string, ListedStream>();
  /** The origin's view of this edge's links, from the last listing. */
  private originRecords: EdgeLinkRecord[] = [];
  private ownRecords: EdgeLinkRecord[] = [];
  private missingSince = new Map<string, number>();
  private readonly claiming = new Set<string>();
  private readonly previous = new Map<string, { stream: KcpStream; counters: KcpCounters }>();
  private readonly originKeys = new Map<string, string>();
  private readonly privacyLookups = new Map<string, { private: boolean; at: number }>();
  private syncing = false;
  private closed = false;
  private readonly onDemand = (app: string, name: string) => void this.carry(app, name);

  constructor(private readonly opts: EdgeRuntimeOptions) {
    const { config } = opts;
    this.client = new OriginListingClient(config.originApi, config.name, opts.secret, opts.logger, opts.fetchImpl);
    this.pulls = new RelayPullManager({
      hub: opts.hub,
      origin: fixedOrigin(config.origin),
      // The edge's name rides along (after the signed part) so the origin can label the link; only relay-authorized plays are labelled.
      playName: (app, name) => `${opts.authorizer.outgoingName(app, name)}&edge=${encodeURIComponent(config.name)}`,
      idleMs: opts.idleMs,
      report: opts.report,
      kcpTuning: opts.kcpTuning,
      keepWithoutViewers: config.mode === 'all',
      startOnDemand: false,
      silenceTimeoutMs: LINK_SILENCE_MS,
    });
    if (config.mode === 'on-demand') opts.hub.on('demand', this.onDemand);
    this.timer = setInterval(() => void this.sync(), LINK_REPORT_MS);
    this.timer.unref();
    void this.sync();
    opts.logger.info({ edge: config.name, origin: config.origin.href, api: config.originApi.origin, mode: config.mode }, 'edge: pulling the origin\'s live streams');
  }

  get listingFailures(): number { return this.client.failures; }

  /** The links as last measured here and, for this edge's links, at the origin (/metrics, EMF). */
  linkRecords(): EdgeLinkRecord[] {
    return [...this.ownRecords, ...this.originRecords];
  }

  /**
   * For PlaybackAccess: whether a stream is private at the origin. Listed
   * streams answer from the listing; others are asked of the origin (cached
   * briefly). An origin that cannot be asked is an error, so the viewer is
   * refused: a private stream must not open because the origin is far away.
   */
  async getStream(streamId: string): Promise<{ private: boolean } | undefined> {
    for (const s of this.listed.values()) if (s.name === streamId) return { private: s.private };
    const cached = this.privacyLookups.get(streamId);
    if (cached && Date.now() - cached.at < PRIVACY_LOOKUP_TTL_MS) return { private: cached.private };
    const info = await this.client.stream(streamId);
    if (!info) throw new Error('the origin cannot be asked whether this stream is private');
    if (this.privacyLookups.size > 10_000) this.privacyLookups.clear();
    this.privacyLookups.set(streamId, { private: info.private, at: Date.now() });
    return { private: info.private };
  }

  close(reason = 'shutting down'): void {
    this.closed = true;
    clearInterval(this.timer);
    this.opts.hub.off('demand', this.onDemand);
    this.pulls.close(reason);
  }

  private async sync(): Promise<void> {
    if (this.syncing || this.closed) return;
    this.syncing = true;
    try {
      this.ownRecords = this.measure();
      void Promise.all(this.ownRecords.map((r) => this.opts.links.put(r))).catch((err: unknown) => this.opts.logger.error({ err }, 'edge link record not stored'));
      const listing = await this.client.list(this.ownRecords);
      if (!listing || this.closed) return;
      this.listed = new Map(listing.streams.map((s) => [`${s.app}/${s.name}`, s]));
      this.originRecords = listing.links;
      // Kept next to our own, so /api/live on every task of this edge shows both sides of its links.
      void Promise.all(listing.links.map((r) => this.opts.links.put(r))).catch((err: unknown) => this.opts.logger.error({ err }, 'edge link record not stored'));
      this.applyPublicKeys(listing.publicKeys);
      const plan = planEdgePulls({
        mode: this.opts.config.mode, listed: new Set(this.listed.keys()), pulling: new Set(this.pulls.active.keys()),
        missingSince: this.missingSince, now: Date.now(), graceMs: MISSING_GRACE_MS,
      });
      this.missingSince = plan.missingSince;
      for (const key of plan.stop) this.pulls.active.get(key)?.stop('no longer live at the origin');
      for (const key of plan.candidates) void this.carry(...splitKey(key));
      for (const [key, pull] of this.pulls.active) if (pull.stream && !this.opts.registry.holds(pull.app, pull.name)) void this.reclaim(key, pull);
    } catch (err) {
      this.opts.logger.error({ err }, 'edge sync failed');
    } finally {
      this.syncing = false;
    }
  }

  /** Pulls app/name from the origin if this task gets (or has) its lease in the edge's registry. */
  private async carry(app: string, name: string): Promise<void> {
    const key = `${app}/${name}`;
    if (this.closed || this.pulls.active.has(key) || this.claiming.has(key)) return;
    this.claiming.add(key);
    try {
      const { registry } = this.opts;
      if (!registry.holds(app, name)) {
        if (await registry.ownerElsewhere(app, name)) return;
        const claim = await registry.claim(app, name);
        if (!claim.ok) return;
      }
      if (!this.closed) this.pulls.pull(app, name);
    } catch (err) {
      this.opts.logger.error({ err, stream: key }, 'edge: could not take the stream\'s lease');
    } finally {
      this.claiming.delete(key);
    }
  }

  /**
   * A pull whose lease went away (its claim ran out before the origin's
   * media came, or the registry was unreachable): take it again, or, if
   * another edge task carries the stream now, leave it to that one.
   */
  private async reclaim(key: string, pull: RelayPull): Promise<void> {
    if (this.claiming.has(key)) return;
    this.claiming.add(key);
    try {
      const claim = await this.opts.registry.claim(pull.app, pull.name);
      if (!claim.ok) pull.stop('another edge task carries this stream');
    } catch (err) {
      this.opts.logger.error({ err, stream: key }, 'edge: could not renew the stream\'s lease');
    } finally {
      this.claiming.delete(key);
    }
  }

  private measure(): EdgeLinkRecord[] {
    const now = Date.now();
    const records: EdgeLinkRecord[] = [];
    for (const [key, pull] of this.pulls.active) {
      const kcp = pull.kcpStream;
      const counters = kcp ? readKcpCounters(kcp) : undefined;
      const before = this.previous.get(key);
      const figures = counters ? periodFigures(before && before.stream === kcp ? before.counters : undefined, counters) : { lossRatio: null };
      if (kcp && counters) this.previous.set(key, { stream: kcp, counters });
      const local = pull.stream;
      const listed = this.listed.get(key);
      const delay = hopDelay(listed?.clockOffsetMs ?? undefined, local?.clock ?? { minOffsetMs: undefined, maxOffsetMs: undefined });
      const stalledMs = stalledFor(listed?.lastMediaAt, local ? now - local.silentForMs() : undefined);
      records.push({
        app: pull.app, name: pull.name, edge: this.opts.config.name, side: 'edge', task: this.opts.taskId,
        state: edgeSideHealth({ connected: pull.state === 'live' || pull.state === 'waiting', flowing: pull.state === 'live' && local !== null, mediaDelayMaxMs: delay.mediaDelayMaxMs, stalledMs }),
        rttMs: counters && counters.srttMs > 0 ? counters.srttMs : null,
        lossRatio: figures.lossRatio,
        retransmitRatio: null,
        fecRecovered: counters?.fecRecovered ?? null,
        ...delay,
        queueBytes: null,
        updatedAt: now,
      });
    }
    for (const key of this.previous.keys()) if (!this.pulls.active.has(key)) this.previous.delete(key);
    return records;
  }

  /** The origin's playback keys replace the ones it sent before; this edge's own (PLAYBACK_PUBLIC_KEYS) stay. */
  private applyPublicKeys(keys: Record<string, string>): void {
    for (const id of [...this.originKeys.keys()]) {
      if (keys[id] === undefined) {
        this.originKeys.delete(id);
        this.opts.verifier.delete(id);
      }
    }
    for (const [id, pem] of Object.entries(keys)) {
      if (this.originKeys.get(id) === pem) continue;
      try {
        this.opts.verifier.set(id, createPublicKey(pem));
        this.originKeys.set(id, pem);
      } catch (err) {
        this.opts.logger.warn({ keyPairId: id, error: (err as Error).message }, 'edge: the origin sent a playback key that is not a public key; ignored');
      }
    }
  }
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}
