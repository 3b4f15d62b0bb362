import type { StreamHub } from '../hub/stream-hub.js';

/**
 * Ids of streams whose publisher got in with a stream key (not through a
 * relay): the ones the revocation watch checks. A relay-published stream on
 * an edge may not exist in the edge's table at all and must not be cut off.
 */
export class KeyAuthorizedStreams {
  /** Stream id → when its key was last accepted. */
  private readonly authorizedAt = new Map<string, number>();

  add(streamId: string): void {
    this.authorizedAt.set(streamId, Date.now());
  }

  liveIds(hub: StreamHub): string[] {
    const live = new Set(hub.list().map((s) => s.name));
    const graceEnd = Date.now() - 30_000; // authorized, not live yet: the publish is still starting
    for (const [id, at] of this.authorizedAt) if (!live.has(id) && at < graceEnd) this.authorizedAt.delete(id);
    return [...this.authorizedAt.keys()].filter((id) => live.has(id));
  }
}
