/**
 * The two ends of the weak-network benchmark, run as child processes inside
 * the network namespaces (`ip netns exec NS node --import tsx bench/lib/weaknet-agent.ts ...`):
 *
 *   publish <host> <rtmpPort> <name>
 *     publishes the sample in real time; prints {"startedAt": ms} once live.
 *   kcp-bridge <udpPort> <rtmpPort>
 *     RTMP over KCP on udpPort, piped to the RTMP server on loopback.
 *   read <rtmp|kcp> <host> <port> <name> <seconds>
 *     plays the stream for `seconds` and prints one JSON summary: every video
 *     frame as [timestamp, arrivedAt], and the media payload bytes received.
 *
 * KCP_FEC="data,parity" in the environment turns on FEC for a kcp reader.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { PacedPublisher } from './paced-publisher.js';
import { loadSampleTags } from './sample-media.js';
import { sleep } from './stats.js';
import { startViewer, type FrameArrival } from './viewers.js';

export interface ReadSummary {
  frames: [timestamp: number, arrivedAt: number][];
  payloadBytes: number;
  error?: string;
}

async function openKcp(host: string, port: number): Promise<Duplex> {
  // Loaded only for kcp readers, so the benchmark runs before the KCP transport exists.
  const { connectKcp } = await import('kcp-ts/node');
  const { parseFecSetting } = await import('@bridgecast/media/kcp-config.js');
  return connectKcp(host, port, { fec: parseFecSetting(process.env.KCP_FEC) });
}

async function read(transport: string, host: string, port: number, name: string, seconds: number): Promise<void> {
  const frames: ReadSummary['frames'] = [];
  const summary: ReadSummary = { frames, payloadBytes: 0 };
  try {
    const stream = transport === 'kcp' ? await openKcp(host, port) : undefined;
    const viewer = await startViewer('rtmp', { host, rtmpPort: port, app: 'live', name, transport: stream },
      (f: FrameArrival) => frames.push([f.timestamp, f.arrivedAt]));
    await sleep(seconds * 1000);
    summary.payloadBytes = viewer.tracker.payloadBytes;
    viewer.close();
  } catch (err) {
    summary.error = (err as Error).message;
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

async function publish(host: string, port: number, name: string): Promise<void> {
  const publisher = await PacedPublisher.start({ host, port, app: 'live', name }, loadSampleTags());
  process.stdout.write(`${JSON.stringify({ startedAt: publisher.startedAt })}\n`);
  process.exitCode = 1;
  await publisher.closed; // runs until the parent kills it; a closed connection is an error
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

const [command, ...rest] = process.argv.slice(2);
if (command === 'read') {
  const [transport, host, port, name, seconds] = rest;
  await read(transport!, host!, Number(port), name!, Number(seconds));
  process.exit(0);
} else if (command === 'publish') {
  const [host, port, name] = rest;
  await publish(host!, Number(port), name!);
  process.exit(1);
} else if (command === 'kcp-bridge') {
  const [udpPort, rtmpPort] = rest;
  await kcpBridge(Number(udpPort), Number(rtmpPort));
} else {
  process.stderr.write('usage: weaknet-agent.ts publish <host> <port> <name> | read <rtmp|kcp> <host> <port> <name> <seconds>\n');
  process.exit(2);
}
