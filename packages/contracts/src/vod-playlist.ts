export interface IndexedSegment {
  sequence: number;
  durationSeconds: number;
}

/**
 * The VOD playlist of a finished broadcast: every segment in sequence
 * order, relative URIs (the playlist sits beside the segments), target
 * duration the rounded-up longest segment (RFC 8216 4.3.3.1). A gap in
 * the sequence (a segment the media service had to drop) is marked with
 * EXT-X-DISCONTINUITY, so players reset their timeline there.
 */
export function renderVodPlaylist(segments: IndexedSegment[]): string {
  const ordered = [...segments].sort((a, b) => a.sequence - b.sequence);
  const target = Math.max(1, ...ordered.map((s) => Math.ceil(s.durationSeconds)));
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${target}`, '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-PLAYLIST-TYPE:VOD'];
  ordered.forEach((s, i) => {
    if (i > 0 && s.sequence !== ordered[i - 1]!.sequence + 1) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXTINF:${s.durationSeconds.toFixed(3)},`, `${s.sequence}.ts`);
  });
  lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}

