/**
 * Real ffmpeg/ffprobe for end-to-end tests: publishers that encode a lavfi
 * test signal (testsrc2 + sine → H.264 with B-frames + AAC) or send a file,
 * and readers that probe a URL (RTMP, HTTP-FLV, HLS, a local file) and return
 * ffprobe's JSON. Every child is tracked and killed by `killAllChildren()`
 * (call it in an `after` hook) and on process exit, so a failing test never
 * leaves ffmpeg running.
 *
 *   const pub = startPublisher(server.rtmpUrl('cam'), { seconds: 6 });
 *   const probe = await probeMedia(server.flvUrl('cam'), { timeoutMs: 15_000 });
 *   await pub.exited;
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** The generated test signal: small and cheap to encode on a busy machine. */
export interface TestSignal {
  width: number;
  height: number;
  fps: number;
  /** Keyframe interval in seconds (the GOP). */
  gopSeconds: number;
  /** Consecutive B-frames (x264 -bf); 0 for none. */
  bframes: number;
  audio: boolean;
  /** Video bit rate in kbit/s; unset lets x264 choose (crf). */
  videoKbps?: number;
  /** Extra lavfi filters after testsrc2, e.g. `noise=alls=12:allf=t` to make the picture hard to compress. */
  videoFilter?: string;
}

export const DEFAULT_SIGNAL: TestSignal = { width: 320, height: 180, fps: 30, gopSeconds: 2, bframes: 2, audio: true };

/** Frames per GOP of a signal. */
export function gopFrames(signal: TestSignal): number {
  return signal.fps * signal.gopSeconds;
}

/** ffmpeg arguments: the lavfi inputs and the H.264/AAC encoder settings, for `seconds` of signal. */
export function lavfiEncodeArgs(seconds: number, signal: Partial<TestSignal> = {}): string[] {
  const s = { ...DEFAULT_SIGNAL, ...signal };
  const video = `testsrc2=size=${s.width}x${s.height}:rate=${s.fps}:duration=${seconds}${s.videoFilter ? `,${s.videoFilter}` : ''}`;
  const args = ['-f', 'lavfi', '-i', video];
  if (s.audio) args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`);
  const gop = String(gopFrames(s));
  args.push(
    // ultrafast turns B-frames off (-bf puts them back); no scene cuts keeps the GOP fixed.
    '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', String(s.bframes),
    '-x264-params', `scenecut=0:keyint=${gop}:min-keyint=${gop}`,
    '-g', gop, '-pix_fmt', 'yuv420p', '-threads', '1',
  );
  if (s.videoKbps) args.push('-b:v', `${s.videoKbps}k`, '-maxrate', `${s.videoKbps}k`, '-bufsize', `${s.videoKbps}k`);
  if (s.audio) args.push('-c:a', 'aac', '-b:a', '64k', '-ac', '1');
  return args;
}

export interface ChildRun {
  readonly child: ChildProcess;
  /** Everything the child wrote to stderr so far (ffmpeg's log). */
  readonly stderr: () => string;
  /** Resolves when the child exits (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops the child: SIGINT (ffmpeg finishes its output), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const children = new Set<ChildRun>();
process.once('exit', () => { for (const c of children) c.child.kill('SIGKILL'); });

/** Spawns a tracked child process; its stdout is collected when `collectStdout`. */
export function spawnTracked(command: string, args: string[], collectStdout = false): ChildRun & { stdout: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', collectStdout ? 'pipe' : 'ignore', 'pipe'] });
  let stderr = '';
  const out: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
    if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024); // keep the tail
  });
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => { stderr += `\nspawn error: ${err.message}`; resolve({ code: -1, signal: null }); });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const run = {
    child,
    stderr: () => stderr,
    stdout: () => Buffer.concat(out).toString('utf8'),
    exited,
    async stop(graceMs = 2000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
    },
  };
  children.add(run);
  void exited.then(() => children.delete(run));
  return run;
}

/** Kills every child still running (for `after` hooks). */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop(500)));
}

export interface PublishOptions extends Partial<TestSignal> {
  /** Length of the generated signal. Ignored with `file`. */
  seconds?: number;
  /** Publish this file (stream copy, real-time) instead of encoding a signal. */
  file?: string;
  /** With `file`: loop it forever (benchmarks). */
  loop?: boolean;
}

/**
 * Publishes to `url` (rtmp://…) in real time (`-re`) and returns the running
 * ffmpeg. Either encodes the lavfi test signal live or copies a file.
 */
export function startPublisher(url: string, options: PublishOptions = {}): ChildRun {
  const input = options.file
    ? [...(options.loop ? ['-stream_loop', '-1'] : []), '-re', '-i', options.file, '-c', 'copy']
    : ['-re', ...lavfiEncodeArgs(options.seconds ?? 5, options)];
  return spawnTracked('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', ...input, '-f', 'flv', url]);
}

/** Encodes `seconds` of the test signal into a local file (as fast as possible): the reference for a publish. */
export async function encodeFile(outputPath: string, seconds: number, signal: Partial<TestSignal> = {}, format = 'flv'): Promise<void> {
  const run = spawnTracked('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...lavfiEncodeArgs(seconds, signal), '-f', format, outputPath]);
  const { code } = await run.exited;
  if (code !== 0) throw new Error(`ffmpeg encode to ${outputPath} failed (${code}): ${run.stderr()}`);
}

/** Runs ffmpeg with `args` to completion; rejects with its log on failure. */
export async function runFfmpeg(args: string[], timeoutMs = 60_000): Promise<void> {
  const run = spawnTracked('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args]);
  const timer = setTimeout(() => void run.stop(500), timeoutMs);
  const { code } = await run.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed (${code}): ${run.stderr()}`);
}

export interface ProbeStream {
  index: number;
  codec_type: 'video' | 'audio' | 'data' | string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  time_base: string;
  extradata?: string;
}

export interface ProbePacket {
  stream_index: number;
  codec_type: string;
  pts?: number;
  dts?: number;
  size: string;
  /** "K_" for a keyframe. */
  flags: string;
  /** Hex dump, with `showData`. */
  data?: string;
}

export interface ProbeFrame {
  stream_index: number;
  media_type: string;
  key_frame: number;
  pict_type?: string;
  pts?: number;
  pkt_dts?: number;
}

export interface ProbeResult {
  streams: ProbeStream[];
  packets: ProbePacket[];
  frames: ProbeFrame[];
}

export interface ProbeOptions {
  /** Kill ffprobe after this long (a live stream that never ends). Default 30 s. */
  timeoutMs?: number;
  /** Decode and list frames (-show_frames) instead of packets. */
  frames?: boolean;
  /** Include packet payloads (hex) and stream extradata. */
  showData?: boolean;
  /** Stop after this many seconds of input (-read_intervals). */
  readSeconds?: number;
}

/**
 * Runs ffprobe on `url` (rtmp://, http://…flv, a file) and returns its JSON:
 * streams plus packets (default) or decoded frames. Reads until the input
 * ends: for a live stream that is when the publisher stops. A probe that
 * exceeds `timeoutMs` is killed and rejects.
 */
export async function probeMedia(url: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const entries = options.frames
    ? 'frame=stream_index,media_type,key_frame,pict_type,pts,pkt_dts'
    : `packet=stream_index,codec_type,pts,dts,size,flags${options.showData ? ',data' : ''}`;
  const args = [
    '-v', 'error', '-of', 'json',
    // Network reads time out instead of hanging on a stalled stream (microseconds).
    ...(/^(rtmp|http)/.test(url) ? ['-rw_timeout', '5000000'] : []),
    ...(options.readSeconds ? ['-read_intervals', `%+${options.readSeconds}`] : []),
    options.frames ? '-show_frames' : '-show_packets',
    ...(options.showData ? ['-show_data'] : []),
    '-show_entries', `stream=index,codec_type,codec_name,profile,width,height,sample_rate,channels,time_base${options.showData ? ',extradata' : ''}:${entries}`,
    url,
  ];
  const run = spawnTracked('ffprobe', args, true);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; run.child.kill('SIGKILL'); }, timeoutMs);
  const { code } = await run.exited;
  clearTimeout(timer);
  if (timedOut) throw new Error(`ffprobe ${url} timed out after ${timeoutMs} ms: ${run.stderr()}`);
  if (code !== 0) throw new Error(`ffprobe ${url} failed (${code}): ${run.stderr()}`);
  const json = JSON.parse(run.stdout() || '{}') as Partial<ProbeResult>;
  return { streams: json.streams ?? [], packets: json.packets ?? [], frames: json.frames ?? [] };
}

/** Packets of one media type, in stream order. */
export function packetsOf(probe: ProbeResult, type: 'video' | 'audio'): ProbePacket[] {
  return probe.packets.filter((p) => p.codec_type === type);
}

/** Parses ffprobe's `-show_data` hex dump ("00000000: 0000 0018 4001 ...  ....@") into bytes. */
export function parseHexDump(dump: string): Buffer {
  const hex = dump.split('\n').map((line) => line.slice(10, 50).replace(/\s/g, '')).join('');
  return Buffer.from(hex, 'hex');
}
