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

/** Broadcast ids start with their UTC start time, `YYYYMMDDTHHMMSSZ`. */
export function broadcastStartTime(broadcastId: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(broadcastId);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z` : undefined;
}
