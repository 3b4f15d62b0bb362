import type { KcpStream } from 'kcp-ts/node';
import { periodRatio } from './link-health.js';

/** The running counters of one KCP link that the link figures are derived from. */
export interface KcpCounters {
  segmentsSent: number;
  retransmits: number;
  segmentsReceived: number;
  segmentsFilledGap: number;
  fecRecovered: number | null;
  srttMs: number;
}

export function readKcpCounters(stream: KcpStream): KcpCounters {
  const stats = stream.kcp.stats;
  return {
    segmentsSent: stats.segmentsSent,
    retransmits: stats.timeoutRetransmits + stats.fastRetransmits,
    segmentsReceived: stats.segmentsReceived,
    segmentsFilledGap: stats.segmentsFilledGap,
    fecRecovered: stream.fecStats?.recovered ?? null,
    srttMs: stream.kcp.srtt,
  };
}

/**
 * The figures of one report period from two readings of the same link
 * (`before` undefined: the first period, counted from the link's start):
 * - retransmitRatio (the sender's): segments sent again per segment sent
 *   for the first time, as bridgecast_kcp_segments_total has it;
 * - lossRatio (the receiver's): segments that arrived after a later one,
 *   i.e. whose first copy was lost and came back by retransmission or FEC,
 *   per segment received. On a path that does not reorder (one flow over
 *   the internet rarely does) this is the path's loss; FEC recoveries count,
 *   as the loss they hid.
 */
export function periodFigures(before: KcpCounters | undefined, now: KcpCounters): { retransmitRatio: number | null; lossRatio: number | null } {
  const b = before ?? { segmentsSent: 0, retransmits: 0, segmentsReceived: 0, segmentsFilledGap: 0 };
  return {
    retransmitRatio: periodRatio(now.retransmits - b.retransmits, now.segmentsSent - b.segmentsSent),
    lossRatio: periodRatio(now.segmentsFilledGap - b.segmentsFilledGap, now.segmentsReceived - b.segmentsReceived),
  };
}

/**
 * The media's delay across the hop from the two ends' media clocks (see
 * hub/media-clock.ts): the edge's arrival offset minus the origin's, for
 * the least- and the most-delayed media of the window. null while either is
 * unknown. Never negative: a negative value is clock disagreement.
 */
export function hopDelay(originMinOffsetMs: number | undefined, edge: { minOffsetMs: number | undefined; maxOffsetMs: number | undefined }): { mediaDelayMs: number | null; mediaDelayMaxMs: number | null } {
  if (originMinOffsetMs === undefined || edge.minOffsetMs === undefined || edge.maxOffsetMs === undefined) return { mediaDelayMs: null, mediaDelayMaxMs: null };
  return {
    mediaDelayMs: Math.max(0, Math.round(edge.minOffsetMs - originMinOffsetMs)),
    mediaDelayMaxMs: Math.max(0, Math.round(edge.maxOffsetMs - originMinOffsetMs)),
  };
}
