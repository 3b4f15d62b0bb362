/**
 * The HLS object layout, relative to the deployment's prefix (HLS_PREFIX):
 * what the media service writes, the local route and CloudFront serve, the
 * recording indexer reads and the stream-keys API links to.
 *
 *   live/<streamId>/index.m3u8                          live window (rewritten every segment)
 *   recordings/<streamId>/<broadcastId>/<seq>.ts        segments, written once
 *   recordings/<streamId>/<broadcastId>/index.m3u8      the recording's playlist (grows, then ends)
 *   recordings/<streamId>/<broadcastId>/end.json        written last: the broadcast ended
 *   recordings/<streamId>/<broadcastId>/vod.m3u8        the indexer's VOD playlist, once all segments are indexed
 */
export const HLS_LIVE_PREFIX = 'live/';
export const HLS_RECORDINGS_PREFIX = 'recordings/';

export const hlsKeys = {
  livePlaylist: (streamId: string) => `${HLS_LIVE_PREFIX}${streamId}/index.m3u8`,
  recordingDir: (streamId: string, broadcastId: string) => `${HLS_RECORDINGS_PREFIX}${streamId}/${broadcastId}`,
  segment: (streamId: string, broadcastId: string, seq: number) => `${HLS_RECORDINGS_PREFIX}${streamId}/${broadcastId}/${seq}.ts`,
  recordingPlaylist: (streamId: string, broadcastId: string) => `${HLS_RECORDINGS_PREFIX}${streamId}/${broadcastId}/index.m3u8`,
  endMarker: (streamId: string, broadcastId: string) => `${HLS_RECORDINGS_PREFIX}${streamId}/${broadcastId}/end.json`,
  vodPlaylist: (streamId: string, broadcastId: string) => `${HLS_RECORDINGS_PREFIX}${streamId}/${broadcastId}/vod.m3u8`,
};

export interface HlsObjectMeta {
  contentType: string;
  cacheControl: string;
}

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

/**
 * Content type and Cache-Control of each kind of object, set on the S3
 * objects (CloudFront honours the origin's max-age for recording playlists)
 * and sent by the local route.
 */
export const HLS_OBJECT_META = {
  segment: { contentType: 'video/mp2t', cacheControl: 'public, max-age=31536000, immutable' },
  livePlaylist: { contentType: PLAYLIST_TYPE, cacheControl: 'public, max-age=1' },
  growingRecording: { contentType: PLAYLIST_TYPE, cacheControl: 'public, max-age=1' },
  endedRecording: { contentType: PLAYLIST_TYPE, cacheControl: 'public, max-age=86400' },
  vodPlaylist: { contentType: PLAYLIST_TYPE, cacheControl: 'public, max-age=86400' },
  endMarker: { contentType: 'application/json', cacheControl: 'no-cache' },
} satisfies Record<string, HlsObjectMeta>;

/** What an object key under `recordings/` is, per the HLS layout (see the README). */
export type RecordingObject =
  | { kind: 'segment'; streamId: string; broadcastId: string; sequence: number }
  | { kind: 'end'; streamId: string; broadcastId: string };

const SEGMENT = /^recordings\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_-]+)\/(\d{1,9})\.ts$/;
const END = /^recordings\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_-]+)\/end\.json$/;

/** Parses a key (without the HLS prefix); null for anything the indexer does not track (playlists, vod.m3u8). */
export function parseRecordingKey(key: string): RecordingObject | null {
  const segment = SEGMENT.exec(key);
  if (segment) return { kind: 'segment', streamId: segment[1]!, broadcastId: segment[2]!, sequence: Number(segment[3]) };
  const end = END.exec(key);
  if (end) return { kind: 'end', streamId: end[1]!, broadcastId: end[2]! };
  return null;
}

