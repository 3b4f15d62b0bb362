/** Parses an HLS media playlist with hls-parser in strict mode (spec violations throw). */
import HLS from 'hls-parser';
import type { MediaPlaylist } from 'hls-parser/types.js';

export function parseMediaPlaylist(text: string): MediaPlaylist {
  HLS.setOptions({ strictMode: true, silent: true });
  const playlist = HLS.parse(text);
  if (playlist.isMasterPlaylist) throw new Error('expected a media playlist');
  return playlist as MediaPlaylist;
}
