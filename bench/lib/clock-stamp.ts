/**
 * The wall clock burned into a test picture, to measure publish-to-picture
 * latency in a browser without OCR:
 *  - ffmpeg stamps each frame with the time it reads it (setpts=RTCTIME, in
 *    ms) and draws the low 24 bits of that millisecond count as a row of
 *    24 white/black 16x16 blocks at the top left (drawbox, enabled per bit),
 *    plus the same time as text (drawtext, for a human watching);
 *  - the page draws the displayed video frame onto a canvas and reads the
 *    blocks back; now − stamp (mod 2^24 ms, 4.6 hours) is how far behind
 *    real time the picture on screen is, encoder, server, network and
 *    player buffering included.
 * Blocks of pure black and white at 16 px survive H.264 at any sane rate;
 * the page reads each block's centre and checks a second row agrees.
 */
export const STAMP_BITS = 24;
const BLOCK = 16;
const X0 = 4;
const Y0 = 2;

/** DejaVu Sans Mono (Debian: fonts-dejavu-core) for the human-readable time. */
export const STAMP_FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf';

/** The ffmpeg filter chain to append to a 30 fps source (testsrc2) of at least 400x48 pixels. */
export function clockStampFilter(fps = 30): string {
  const bits = Array.from({ length: STAMP_BITS }, (_, k) =>
    `drawbox=x=${X0 + k * BLOCK}:y=${Y0}:w=${BLOCK}:h=${BLOCK}:color=white:t=fill:enable='mod(floor(t*1000/${2 ** k})\\,2)'`);
  return [
    // The frame's timestamp becomes the wall clock (ms) while the blocks are drawn...
    'settb=1/1000', 'setpts=RTCTIME/1000',
    `drawbox=x=0:y=0:w=${X0 * 2 + STAMP_BITS * BLOCK}:h=${Y0 * 2 + BLOCK}:color=black:t=fill`,
    ...bits,
    // ...then regular timestamps again (frame count at the nominal rate).
    `settb=1/${fps}`, 'setpts=N',
    `drawtext=fontfile=${STAMP_FONT}:text='%{localtime\\:%T}':x=8:y=${Y0 * 2 + BLOCK + 4}:fontsize=24:fontcolor=white:box=1:boxcolor=black`,
  ].join(',');
}

/**
 * Reads the stamp of one picture given its luma (0-255) at (x, y); null
 * when two rows through the blocks disagree (artefacts, a torn frame).
 * Self-contained (literals, no outside names): the page runs its source.
 */
export function stampFromLuma(luma: (x: number, y: number) => number): number | null {
  // (No inner named functions: the bundler would wrap them in a helper the page does not have.)
  const rows = [0, 0];
  for (let r = 0; r < 2; r++) {
    for (let k = 0; k < 24; k++) if (luma(4 + k * 16 + 8, r === 0 ? 7 : 13) > 128) rows[r]! += 2 ** k;
  }
  return rows[0] === rows[1] ? rows[0]! : null;
}

/** How far `stamp` (low 24 bits of epoch ms) is behind `nowMs`. */
export function stampAgeMs(stamp: number, nowMs: number): number {
  const modulus = 2 ** STAMP_BITS;
  return ((nowMs % modulus) - stamp + modulus) % modulus;
}

/**
 * A page-side expression (evaluate it in the page): the age of the frame on
 * screen, { latencyMs, currentTime }, or null when no frame is shown or its
 * stamp cannot be read.
 */
export const READ_STAMP_IN_PAGE = `(() => {
  const video = document.querySelector('video');
  if (!video || video.readyState < 2 || !video.videoWidth || video.paused) return null;
  const canvas = (window.__stampCanvas ??= document.createElement('canvas'));
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(video, 0, 0);
  const now = Date.now();
  const width = ${X0 * 2 + STAMP_BITS * BLOCK};
  const data = g.getImageData(0, 0, width, ${Y0 * 2 + BLOCK}).data;
  const stampFromLuma = ${stampFromLuma.toString()};
  const stamp = stampFromLuma((x, y) => { const i = (y * width + x) * 4; return data[i] * 0.299 + data[i + 1] * 0.587 + data[i + 2] * 0.114; });
  if (stamp === null) return null;
  const modulus = ${2 ** STAMP_BITS};
  return { latencyMs: ((now % modulus) - stamp + modulus) % modulus, currentTime: video.currentTime };
})()`;
