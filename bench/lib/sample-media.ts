/**
 * The pre-encoded stream every benchmark publishes: H.264 (CBR-ish 2.5 Mbit/s
 * total with audio, 720p30, 2 s GOP, no B-frames so decode order is send
 * order) + AAC, encoded once with ffmpeg into .bench/ and replayed in real
 * time, so publishers cost almost no CPU and every run sends identical bytes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { readFlvTags, type FlvTag } from './flv-reader.js';

export const SAMPLE_FPS = 30;
export const SAMPLE_SECONDS = 20;
const VIDEO_KBPS = 2350;
const AUDIO_KBPS = 128;

export function benchDir(): string {
  const dir = path.resolve('.bench');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Path of the sample FLV (`seconds` long, looped by its users), encoding it first when missing. */
export function ensureSampleFlv(seconds = SAMPLE_SECONDS): string {
  const file = path.join(benchDir(), `sample-720p30-${VIDEO_KBPS + AUDIO_KBPS}k-${seconds}s.flv`);
  if (existsSync(file)) return file;
  const tmp = `${file}.tmp.flv`;
  const result = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=${SAMPLE_FPS}:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-bf', '0',
    '-g', String(SAMPLE_FPS * 2), '-keyint_min', String(SAMPLE_FPS * 2), '-sc_threshold', '0',
    '-b:v', `${VIDEO_KBPS}k`, '-minrate', `${VIDEO_KBPS}k`, '-maxrate', `${VIDEO_KBPS}k`, '-bufsize', `${VIDEO_KBPS}k`,
    '-x264-params', 'nal-hrd=cbr', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', `${AUDIO_KBPS}k`, '-f', 'flv', tmp,
  ], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`ffmpeg failed to encode the sample (exit ${result.status})`);
  renameSync(tmp, file);
  return file;
}

export function loadSampleTags(seconds = SAMPLE_SECONDS): FlvTag[] {
  return readFlvTags(readFileSync(ensureSampleFlv(seconds)));
}
