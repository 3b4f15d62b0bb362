/**
 * How an origin↔edge link is doing, decided from plain numbers (no I/O), on
 * either side. The thresholds are operator-facing, so they are few and
 * stated here:
 *
 * - edge side: `down` while the pull is not connected or the stream is not
 *   flowing through it; `behind` when the slowest media of the last
 *   window reached the edge more than LINK_BEHIND_MS after the origin's
 *   earliest (see hub/media-clock.ts), i.e. viewers here are more than a
 *   second behind the origin's own viewers, or when the origin had media
 *   more than LINK_BEHIND_MS later than the last that arrived here (a
 *   stalled link brings no media to measure a delay on); else `up`.
 * - origin side: `behind` when more than LINK_BEHIND_MS of the stream's
 *   media is queued for the edge (queue bytes against the stream's bit
 *   rate), i.e. the path carries less than the stream; else `up`.
 * - a record not refreshed for LINK_STALE_MS (three report periods) is
 *   `down`: the task that measured it stopped serving the link, or died.
 */
export type LinkHealth = 'up' | 'behind' | 'down';

export const LINK_REPORT_MS = 2000;
export const LINK_STALE_MS = 3 * LINK_REPORT_MS;
export const LINK_BEHIND_MS = 1000;

export function edgeSideHealth(s: { connected: boolean; flowing: boolean; mediaDelayMaxMs: number | null; stalledMs: number | null }): LinkHealth {
  if (!s.connected || !s.flowing) return 'down';
  const late = (s.mediaDelayMaxMs ?? 0) > LINK_BEHIND_MS || (s.stalledMs ?? 0) > LINK_BEHIND_MS;
  return late ? 'behind' : 'up';
}

/** How far the edge's last media is behind the origin's last (ms; null when either is unknown). Clock disagreement is its error, as for the hop delay. */
export function stalledFor(originLastMediaAt: number | undefined, edgeLastMediaAt: number | undefined): number | null {
  return originLastMediaAt === undefined || edgeLastMediaAt === undefined ? null : Math.max(0, originLastMediaAt - edgeLastMediaAt);
}

export function originSideHealth(s: { queueBytes: number; bitsPerSecond: number }): LinkHealth {
  const queuedMs = s.bitsPerSecond > 0 ? (s.queueBytes * 8 * 1000) / s.bitsPerSecond : 0;
  return queuedMs > LINK_BEHIND_MS ? 'behind' : 'up';
}

/** A stored record's health now: its own, unless it is stale. */
export function currentHealth(record: { state: LinkHealth; updatedAt: number }, now: number): LinkHealth {
  return now - record.updatedAt > LINK_STALE_MS ? 'down' : record.state;
}

const RANK: Record<LinkHealth, number> = { up: 0, behind: 1, down: 2 };

/**
 * One link's health from its two sides' views: the worse of the fresh ones
 * (either side may see trouble first); down when neither side reports.
 */
export function combinedHealth(sides: ReadonlyArray<{ state: LinkHealth; updatedAt: number } | undefined>, now: number): LinkHealth {
  const fresh = sides.filter((s): s is { state: LinkHealth; updatedAt: number } => s !== undefined && now - s.updatedAt <= LINK_STALE_MS);
  if (fresh.length === 0) return 'down';
  return fresh.map((s) => s.state).reduce((a, b) => (RANK[b] > RANK[a] ? b : a));
}

/** Ratio of two counter increases over a report period; null when nothing was sent or received in it. */
export function periodRatio(part: number, whole: number): number | null {
  return whole > 0 ? Math.max(0, part / whole) : null;
}
