/**
 * The two ends of the weak-network benchmark, run as child processes inside
 * the network namespaces (`ip netns exec NS node --import tsx bench/lib/weaknet-agent.ts ...`):
 *
 *   publish <host> <rtmpPort> <name>
 *     publishes the sample to our server over RTMP in real time; prints {"startedAt": ms} once live.
 *   kcp-bridge <udpPort> <rtmpPort>
 *     RTMP over KCP on udpPort, piped to the RTMP server on loopback.
 *   read <rtmp|kcp|flv> <host> <port> <name> <seconds>
 *     plays the stream from our server (flv: HTTP-FLV on the HTTP port) for
 *     `seconds` and prints one JSON ReadSummary.
 *
 * The peers, end to end without our server (the sample's FLV bytes or its
 * MPEG-TS remux carried by another transport; the reader starts first and
 * prints "ready", then its summary; the sender prints {"startedAt": ms}):
 *
 *   send-ikcp <host> <udpPort> / read-ikcp <udpPort> <seconds>
 *     the FLV byte stream over the reference ikcp.c (node-kcp), stream mode,
 *     nodelay 1, interval 10, resend 2, nc 1, our default windows and MTU.
 *   send-srt <host> <srtPort> <latencyMs> / read-srt <srtPort> <latencyMs> <seconds>
 *     FLV piped into ffmpeg (-c copy → MPEG-TS over UDP on loopback) →
 *     srt-live-transmit (caller, live mode) → SRT across the link →
 *     srt-live-transmit (listener) → UDP on loopback → TsFrameReader.
 *
 * KCP_FEC="data,parity" in the environment turns on FEC for a kcp reader.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { encodeFlvTag, flvHeader } from '@bridgecast/media/flv/flv-encoding.js';
import { MediaPacket } from '@bridgecast/media/hub/media-packet.js';
import { DEFAULT_KCP_TUNING } from 'kcp-ts';
import { DEFAULT_SOCKET_BUFFER_BYTES } from 'kcp-ts/node';
import { FlvReader } from './flv-reader.js';
import { PacedPublisher, paceTags } from './paced-publisher.js';
import { loadSampleTags } from './sample-media.js';
import { WEAKNET_SAMPLE_SECONDS } from './frame-delay.js';
import { sleep } from './stats.js';
import { TsFrameReader } from './ts-frames.js';
import { FrameTracker, startViewer, type FrameArrival } from './viewers.js';

export interface ReadSummary {
  /** Video frames that arrived whole: [timestamp, arrivedAt]. */
  frames: [timestamp: number, arrivedAt: number][];
  /** Media payload bytes received (FLV tag bodies; for TS, PES payloads). */
  payloadBytes: number;
  /** Video frames whose start arrived but not all of them (TS only). */
  incomplete?: number;
  error?: string;
}

/** Ports inside this run's own namespaces, so fixed numbers cannot collide with another run. */
const LOOPBACK_TS_PORT = 9001;
const LOOPBACK_SRT_OUT_PORT = 9002;

async function openKcp(host: string, port: number): Promise<Duplex> {
  // Loaded only for kcp readers, so the benchmark runs before the KCP transport exists.
  const { connectKcp } = await import('kcp-ts/node');
  const { parseFecSetting } = await import('@bridgecast/media/kcp-config.js');
  return connectKcp(host, port, { fec: parseFecSetting(process.env.KCP_FEC) });
}

function printSummary(summary: ReadSummary): void {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

async function read(transport: string, host: string, port: number, name: string, seconds: number): Promise<void> {
  const frames: ReadSummary['frames'] = [];
  const summary: ReadSummary = { frames, payloadBytes: 0 };
  try {
    const stream = transport === 'kcp' ? await openKcp(host, port) : undefined;
    const target = { host, rtmpPort: port, httpPort: port, app: 'live', name, transport: stream };
    const viewer = await startViewer(transport === 'flv' ? 'flv' : 'rtmp', target, (f: FrameArrival) => frames.push([f.timestamp, f.arrivedAt]));
    await sleep(seconds * 1000);
    summary.payloadBytes = viewer.tracker.payloadBytes;
    viewer.close();
  } catch (err) {
    summary.error = (err as Error).message;
  }
  printSummary(summary);
}

async function publish(host: string, port: number, name: string): Promise<void> {
  const publisher = await PacedPublisher.start({ host, port, app: 'live', name }, loadSampleTags(WEAKNET_SAMPLE_SECONDS));
  process.stdout.write(`${JSON.stringify({ startedAt: publisher.startedAt })}\n`);
  process.exitCode = 1;
  await publisher.closed; // runs until the parent kills it; a closed connection is an error
}

/** Paces the sample as one FLV byte stream into `write`; prints {"startedAt"}. */
function sendFlv(write: (bytes: Buffer) => void): void {
  write(flvHeader(true, true));
  const pacer = paceTags(loadSampleTags(WEAKNET_SAMPLE_SECONDS), (type, timestamp, body) => write(encodeFlvTag(type, timestamp, body)));
  process.stdout.write(`${JSON.stringify({ startedAt: pacer.startedAt })}\n`);
}

/**
 * RTMP over KCP in front of a server that does not listen on KCP itself: each
 * KCP session is piped to the server's RTMP port on loopback. Prints "ready".
 */
async function kcpBridge(udpPort: number, rtmpPort: number): Promise<void> {
  const { KcpServerEndpoint } = await import('kcp-ts/node');
  const { loadKcpSettings } = await import('@bridgecast/media/kcp-config.js');
  // The same KCP_* tuning as the server would read, so a transport's env applies to this bridge too.
  const endpoint = new KcpServerEndpoint({ host: '0.0.0.0', port: udpPort, ...loadKcpSettings(process.env) });
  endpoint.on('session', (stream) => {
    stream.markVerified(); // a benchmark bridge: no credentials to check
    const socket = net.connect({ host: '127.0.0.1', port: rtmpPort, noDelay: true });
    stream.pipe(socket).pipe(stream);
    const end = () => { stream.destroy(); socket.destroy(); };
    stream.on('error', end).on('close', end);
    socket.on('error', end).on('close', end);
  });
  await endpoint.listen();
  process.stdout.write('ready\n');
  await new Promise(() => undefined); // until killed
}

interface NativeKcp {
  nodelay(nodelay: number, interval: number, resend: number, nc: number): number;
  wndsize(sndWnd: number, rcvWnd: number): number;
  setmtu(mtu: number): number;
  stream(on: number): number;
  output(callback: (data: Buffer, size: number) => void): void;
  input(datagram: Buffer): number;
  send(data: Buffer): number;
  recv(): Buffer | undefined;
  update(nowMs: number): void;
}

// node-kcp's package.json "main" points at a build helper, not the binding.
const nodeKcp = () => createRequire(import.meta.url)('node-kcp/index.js') as { KCP: new (conv: number) => NativeKcp };
const IKCP_CONV = 0x20;
/** ikcp refuses a send of 128 or more segments: hand it at most 64 at a time. */
const IKCP_MAX_SEND = 64 * (DEFAULT_KCP_TUNING.mtu - 24);

/** The reference ikcp.c on a UDP socket, talking to `remote` (or, for a listener, to whoever speaks first). */
function ikcpEndpoint(socket: dgram.Socket, remote?: { address: string; port: number }): { kcp: NativeKcp; onData: (handler: (data: Buffer) => void) => void } {
  const t = DEFAULT_KCP_TUNING;
  const kcp = new (nodeKcp().KCP)(IKCP_CONV);
  kcp.nodelay(t.nodelay, t.interval, t.resend, 1);
  kcp.wndsize(t.sndWnd, t.rcvWnd);
  kcp.setmtu(t.mtu);
  kcp.stream(1);
  let peer = remote;
  kcp.output((data, size) => { if (peer) socket.send(data.subarray(0, size), peer.port, peer.address); });
  let handler: (data: Buffer) => void = () => undefined;
  const drain = () => {
    for (let data = kcp.recv(); data !== undefined; data = kcp.recv()) handler(data);
  };
  socket.on('message', (datagram, from) => {
    if (kcp.input(datagram) < 0) return; // not this conversation's
    peer ??= { address: from.address, port: from.port };
    drain();
  });
  setInterval(() => { kcp.update(Date.now()); drain(); }, t.interval);
  return { kcp, onData: (h) => { handler = h; } };
}

/** The reference KCP's socket gets the buffers our endpoint asks for: the comparison is of the KCPs. */
function ikcpSocket(): dgram.Socket {
  return dgram.createSocket({ type: 'udp4', recvBufferSize: DEFAULT_SOCKET_BUFFER_BYTES, sendBufferSize: DEFAULT_SOCKET_BUFFER_BYTES });
}

async function sendIkcp(host: string, port: number): Promise<void> {
  const socket = ikcpSocket();
  await new Promise<void>((resolve) => socket.bind(0, '0.0.0.0', resolve));
  const { kcp } = ikcpEndpoint(socket, { address: host, port });
  // A live sender keeps handing frames to KCP: its send queue grows while the link cannot keep up, as in an app.
  sendFlv((bytes) => {
    for (let offset = 0; offset < bytes.length; offset += IKCP_MAX_SEND) {
      if (kcp.send(bytes.subarray(offset, offset + IKCP_MAX_SEND)) < 0) throw new Error('ikcp refused a send');
    }
  });
  await new Promise(() => undefined); // until killed
}

async function readIkcp(port: number, seconds: number): Promise<void> {
  const frames: ReadSummary['frames'] = [];
  const tracker = new FrameTracker((f) => frames.push([f.timestamp, f.arrivedAt]));
  const flv = new FlvReader((tag) => tracker.add(new MediaPacket(tag.type, tag.timestamp, tag.body)));
  const socket = ikcpSocket();
  await new Promise<void>((resolve) => socket.bind(port, '0.0.0.0', resolve));
  ikcpEndpoint(socket).onData((data) => flv.push(data));
  process.stdout.write('ready\n');
  await sleep(seconds * 1000);
  printSummary({ frames, payloadBytes: tracker.payloadBytes });
}

const children: ChildProcess[] = [];
process.on('exit', () => { for (const child of children) child.kill('SIGKILL'); });
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(1));

function run(command: string, args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): ChildProcess {
  const child = spawn(command, args, { stdio: [stdin, 'ignore', 'inherit'] });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (signal !== 'SIGKILL') process.stderr.write(`${command} exited (${code ?? signal})\n`);
  });
  return child;
}

/** srt-live-transmit's SRT URI: live mode (its default transtype), the given receiver latency. */
function srtUri(hostPort: string, mode: 'caller' | 'listener', latencyMs: number): string {
  return `srt://${hostPort}?mode=${mode}&latency=${latencyMs}&transtype=live`;
}

async function sendSrt(host: string, port: number, latencyMs: number): Promise<void> {
  run('srt-live-transmit', ['-q', '-loglevel:error', `udp://127.0.0.1:${LOOPBACK_TS_PORT}`, srtUri(`${host}:${port}`, 'caller', latencyMs)]);
  await sleep(300);
  // Remux only (-c copy); 1316 bytes = 7 TS packets per datagram, SRT's live payload size.
  const ffmpeg = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-probesize', '32768', '-analyzeduration', '0',
    '-f', 'flv', '-i', 'pipe:0', '-c', 'copy', '-muxdelay', '0', '-muxpreload', '0', '-flush_packets', '1',
    '-f', 'mpegts', `udp://127.0.0.1:${LOOPBACK_TS_PORT}?pkt_size=1316`], 'pipe');
  sendFlv((bytes) => ffmpeg.stdin!.write(bytes));
  await new Promise(() => undefined); // until killed
}

async function readSrt(port: number, latencyMs: number, seconds: number): Promise<void> {
  const frames: ReadSummary['frames'] = [];
  let incomplete = 0;
  const ts = new TsFrameReader((f) => {
    if (f.whole) frames.push([f.timestamp, f.arrivedAt]);
    else incomplete++;
  });
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(LOOPBACK_SRT_OUT_PORT, '127.0.0.1', resolve));
  socket.on('message', (datagram) => ts.push(datagram, Date.now()));
  run('srt-live-transmit', ['-q', '-loglevel:error', srtUri(`:${port}`, 'listener', latencyMs), `udp://127.0.0.1:${LOOPBACK_SRT_OUT_PORT}`]);
  await sleep(300);
  process.stdout.write('ready\n');
  await sleep(seconds * 1000);
  ts.finish();
  printSummary({ frames, payloadBytes: ts.mediaBytes, incomplete });
}

const [command, ...rest] = process.argv.slice(2);
const n = (i: number) => Number(rest[i]);
switch (command) {
  case 'read':
    await read(rest[0]!, rest[1]!, n(2), rest[3]!, n(4));
    process.exit(0);
    break;
  case 'publish':
    await publish(rest[0]!, n(1), rest[2]!);
    process.exit(1);
    break;
  case 'kcp-bridge':
    await kcpBridge(n(0), n(1));
    break;
  case 'send-ikcp':
    await sendIkcp(rest[0]!, n(1));
    break;
  case 'read-ikcp':
    await readIkcp(n(0), n(1));
    process.exit(0);
    break;
  case 'send-srt':
    await sendSrt(rest[0]!, n(1), n(2));
    break;
  case 'read-srt':
    await readSrt(n(0), n(1), n(2));
    process.exit(0);
    break;
  default:
    process.stderr.write('usage: weaknet-agent.ts publish | kcp-bridge | read | send-ikcp | read-ikcp | send-srt | read-srt (see the file\'s comment)\n');
    process.exit(2);
}
