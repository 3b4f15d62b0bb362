import type { EdgeMode } from './edge-config.js';

/**
 * Which streams an edge task starts and stops pulling from the origin,
 * decided from the origin's listing and what this task pulls (keys
 * `app/name`). Pure; the runtime does the I/O and the leases.
 *
 * - EDGE_MODE=all: every listed stream this task does not pull yet is a
 *   candidate; the runtime pulls it only if it wins the stream's lease in the
 *   edge's registry (one cross-border link per stream per edge cluster).
 *   In on-demand mode viewers start pulls, not the listing.
 * - In both modes, a stream this task pulls that has been missing from the
 *   listing for `graceMs` is stopped: the origin ended it and the end did
 *   not reach us over the link. The grace covers the origin's own failover
 *   (its owner task died: the stream leaves its registry until the encoder
 *   reconnects, a few seconds), during which the edge's viewers stay attached.
 */
export interface EdgePlanInput {
  mode: EdgeMode;
  listed: ReadonlySet<string>;
  pulling: ReadonlySet<string>;
  /** When each pulled stream was first seen missing from the listing (carried from the last plan). */
  missingSince: ReadonlyMap<string, number>;
  now: number;
  graceMs: number;
}

export interface EdgePlan {
  candidates: string[];
  stop: string[];
  missingSince: Map<string, number>;
}

export function planEdgePulls(input: EdgePlanInput): EdgePlan {
  const candidates = input.mode === 'all' ? [...input.listed].filter((key) => !input.pulling.has(key)) : [];
  const missingSince = new Map<string, number>();
  const stop: string[] = [];
  for (const key of input.pulling) {
    if (input.listed.has(key)) continue;
    const since = input.missingSince.get(key) ?? input.now;
    if (input.now - since >= input.graceMs) stop.push(key);
    else missingSince.set(key, since);
  }
  return { candidates, stop, missingSince };
}

/** The grace before a stream missing from the listing is stopped (see planEdgePulls). */
export const MISSING_GRACE_MS = 15_000;
