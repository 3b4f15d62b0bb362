import { KcpStream } from 'kcp-ts/node';
import type { StreamHub } from '../hub/stream-hub.js';
import type { Logger } from '../logger.js';
import { isValidServerId } from '../relay/relay-token.js';
import type { RtmpSessionManager } from '../rtmp/rtmp-server.js';
import { LINK_REPORT_MS, originSideHealth } from './link-health.js';
import type { EdgeLinkRecord, EdgeLinkStore } from './link-record.js';
import { periodFigures, readKcpCounters, type KcpCounters } from './link-sample.js';

/**
 * The origin's half of link observability: every LINK_REPORT_MS, each
 * session on this task that plays a stream for an edge (a relay play, so
 * authorized by the relay secret, carrying the edge's name) is measured as
 * the KCP sender sees it and recorded in the cluster's table, so /api/live
 * on any origin task lists it and the edge reads it back in its listing. A
 * link that closed is recorded once more as down.
 */
export class OriginLinkReporter {
  private latest: EdgeLinkRecord[] = [];
  private readonly previous = new Map<string, { stream: KcpStream; counters: KcpCounters }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: { rtmp: RtmpSessionManager; hub: StreamHub; links: EdgeLinkStore; taskId: string; logger: Logger }) {
    this.timer = setInterval(() => void this.report(), LINK_REPORT_MS);
    this.timer.unref();
  }

  /** The links this task serves, as last measured (/metrics, EMF). */
  records(): EdgeLinkRecord[] {
    return this.latest.filter((r) => r.state !== 'down');
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async report(): Promise<void> {
    const now = Date.now();
    const records = new Map<string, EdgeLinkRecord>();
    for (const session of this.opts.rtmp.sessions) {
      const played = session.played;
      const edge = played?.query.get('edge');
      // Only relay plays (the relay authorizer let them in) are edge links; the name is the edge's own.
      if (!played || !played.query.has('relay') || !edge || !isValidServerId(edge)) continue;
      const key = `${played.app}/${played.name}|${edge}`;
      const transport = session.connection.transport;
      const kcp = transport instanceof KcpStream ? transport : undefined;
      const counters = kcp ? readKcpCounters(kcp) : undefined;
      const before = this.previous.get(key);
      const figures = counters ? periodFigures(before && before.stream === kcp ? before.counters : undefined, counters) : { retransmitRatio: null };
      if (kcp && counters) this.previous.set(key, { stream: kcp, counters });
      const queueBytes = kcp ? kcp.sendQueueBytes + kcp.kcp.inflightBytes : transport.writableLength;
      const bitsPerSecond = this.opts.hub.get(played.app, played.name)?.ingest.bitsPerSecond() ?? 0;
      records.set(key, {
        app: played.app, name: played.name, edge, side: 'origin', task: this.opts.taskId,
        state: originSideHealth({ queueBytes, bitsPerSecond }),
        rttMs: counters && counters.srttMs > 0 ? counters.srttMs : null,
        lossRatio: null,
        retransmitRatio: figures.retransmitRatio,
        fecRecovered: counters?.fecRecovered ?? null,
        mediaDelayMs: null,
        mediaDelayMaxMs: null,
        queueBytes,
        updatedAt: now,
      });
    }
    // Links served here until now and closed since: say so once, rather than letting the record go stale.
    for (const old of this.latest) {
      const key = `${old.app}/${old.name}|${old.edge}`;
      if (!records.has(key) && old.state !== 'down') records.set(key, { ...old, state: 'down', updatedAt: now });
    }
    for (const key of this.previous.keys()) if (!records.has(key)) this.previous.delete(key);
    this.latest = [...records.values()];
    try {
      await Promise.all(this.latest.map((r) => this.opts.links.put(r)));
    } catch (err) {
      this.opts.logger.error({ err }, 'edge link record not stored');
    }
  }
}
