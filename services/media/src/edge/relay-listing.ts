import type { EdgeLinkRecord } from './link-record.js';

/**
 * What an origin tells an edge (POST or GET /api/relay/live, authorized by
 * the relay secret): the live streams to carry across, with what the edge
 * needs to serve them exactly as the origin would.
 */
export interface ListedStream {
  app: string;
  name: string;
  /** Private streams are played with a playback credential for that stream, checked with `publicKeys`. */
  private: boolean;
  /** The origin owner's media clock (hub/media-clock.ts): the edge's hop-delay reference. */
  clockOffsetMs: number | null;
  /** Epoch ms of the origin publisher's last media, as of its owner's last lease renewal (up to 2 s old). */
  lastMediaAt: number;
}

export interface RelayListing {
  streams: ListedStream[];
  /** The public keys private streams' credentials are checked with at the origin: `{ "<Key-Pair-Id>": "<PEM>" }`. */
  publicKeys: Record<string, string>;
  /** This edge's links as the origin tasks serving them measured them (the sender's figures: RTT, retransmissions, queue). */
  links: EdgeLinkRecord[];
}

/** GET /api/relay/live/<streamId>: a stream the edge has no listing entry for (a viewer asked before it went live). */
export interface ListedStreamInfo {
  name: string;
  private: boolean;
  live: boolean;
}

export const RELAY_LIST_PATH = '/api/relay/live';
