import { TtlCache } from '../auth/ttl-cache.js';
import type { StreamHub } from '../hub/stream-hub.js';
import { isValidStreamName } from '../rtmp/names.js';
import type { Route } from './http-server.js';
import { sendJson } from './responses.js';

/**
 * What the watch page tells a viewer about a stream (GET /api/live/<id>):
 *   live       being published here now;
 *   ended      not live, and its last broadcast ended (the live playlist carries EXT-X-ENDLIST);
 *   offline    a stream of this server that is not live (no broadcast yet, or one cut off);
 *   not_found  the stream-keys table has no such stream, or it is revoked; also
 *              a private stream, which this public route must not reveal as
 *              being on air (its viewers hold credentials; the app knows its state).
 */
export type StreamState = 'live' | 'ended' | 'offline' | 'not_found';

export interface StreamFacts {
  live: boolean;
  /** Whether the stream-keys table has it, active; undefined without a table (AUTH=none: any name may publish). */
  known: boolean | undefined;
  /** Whether the live playlist ends with EXT-X-ENDLIST; undefined when there is none (or no HLS). */
  playlistEnded: boolean | undefined;
}

export function decideStreamState(facts: StreamFacts): StreamState {
  if (facts.live) return 'live';
  if (facts.known === false) return 'not_found';
  return facts.playlistEnded ? 'ended' : 'offline';
}

export interface StreamStateSources {
  hub: StreamHub;
  /** Active in the stream-keys table; omit without one. */
  isKnownStream?: (streamId: string) => Promise<boolean>;
  /** Created private (playback needs a credential); omit without a table. */
  isPrivate?: (streamId: string) => Promise<boolean>;
  /** The live playlist's text, or null; omit without HLS. */
  livePlaylist?: (streamId: string) => Promise<string | null>;
  /** The HLS app ('live'). */
  app: string;
  /** In a cluster: whether another task has the stream live (the registry). */
  liveElsewhere?: (streamId: string) => Promise<boolean>;
}

/**
 * GET /api/live/<stream id>: { state, hlsReady }. `hlsReady`: live, and the
 * live playlist lists this broadcast (its first segment is out; before
 * that the playlist is missing or still the ended one). Public, unlike the
 * live list: it answers only for an id the caller already has, says no more
 * than the playback URLs do, and nothing of private streams. Lookups in the table and the store
 * are cached for 2 s, so watch pages polling every few seconds cost the
 * table one read per stream, not per viewer.
 */
export function streamStateRoute(sources: StreamStateSources): Route {
  const cache = new TtlCache<string, Omit<StreamFacts, 'live'>>(10_000);
  const lookUp = async (streamId: string): Promise<Omit<StreamFacts, 'live'>> => {
    const now = Date.now();
    const cached = cache.get(streamId, now);
    if (cached) return cached;
    const [known, playlist] = await Promise.all([sources.isKnownStream?.(streamId), sources.livePlaylist?.(streamId)]);
    const facts = { known, playlistEnded: playlist == null ? undefined : /^#EXT-X-ENDLIST\s*$/m.test(playlist) };
    cache.set(streamId, facts, 2000, now);
    return facts;
  };
  return async (req, res, path) => {
    if (!path.startsWith('/api/live/') || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const streamId = path.slice('/api/live/'.length);
    if (!isValidStreamName(streamId) || (await sources.isPrivate?.(streamId))) {
      sendJson(res, 200, { streamId, state: 'not_found' satisfies StreamState, hlsReady: false });
      return true;
    }
    const live = sources.hub.get(sources.app, streamId) !== undefined || (await sources.liveElsewhere?.(streamId)) === true;
    const facts = await lookUp(streamId);
    sendJson(res, 200, { streamId, state: decideStreamState({ live, ...facts }), hlsReady: live && facts.playlistEnded === false });
    return true;
  };
}
