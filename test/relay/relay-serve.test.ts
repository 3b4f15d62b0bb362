/**
 * Relays between two servers as `bridgecast serve` runs them, configured by
 * the environment alone (the relay tests beside this one wire the relay
 * classes directly). A setting both ends of a KCP link must share — KCP_FEC —
 * holds for relay links as it does for an edge's EDGE_ORIGIN: before, a
 * RELAY_ORIGIN pull left it out, the origin's FEC port dropped every
 * datagram of the pull, and edge viewers got 404 after the 10 s wait, with
 * nothing in either server's log (bench:weaknet's kcp-fec relay cells).
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { freePort } from '@bridgecast/test-support/free-port.js';
import { startServer, type RunningServer } from '../../bench/lib/servers.js';
import { killAllChildren, packetsOf, probeMedia, startPublisher } from '../helpers/ffmpeg.js';
import { waitFor } from '../helpers/media-server.js';

const servers: RunningServer[] = [];
after(async () => {
  await killAllChildren();
  for (const server of servers) await server.stop();
});

async function serve(env: Record<string, string>): Promise<RunningServer> {
  const server = await startServer('bridgecast', { kcpPort: await freePort('udp'), env });
  servers.push(server);
  return server;
}

async function isLive(server: RunningServer, name: string): Promise<boolean> {
  const { streams } = await (await fetch(`http://127.0.0.1:${server.httpPort}/api/live`)).json() as { streams: { name: string }[] };
  return streams.some((s) => s.name === name);
}

it('an edge server with KCP_FEC pulls from RELAY_ORIGIN=kcp://… with that FEC, and its HTTP-FLV viewer gets the stream', async () => {
  const fec = { KCP_FEC: '10,3' };
  const origin = await serve(fec);
  const edge = await serve({ ...fec, RELAY_ORIGIN: `kcp://127.0.0.1:${origin.kcpPort}` });
  startPublisher(`rtmp://127.0.0.1:${origin.rtmpPort}/live/cam`, { seconds: 15 });
  await waitFor(() => isLive(origin, 'cam'), 15_000, 'the stream to go live at the origin');

  const viewed = await probeMedia(`http://127.0.0.1:${edge.httpPort}/live/cam.flv`, { timeoutMs: 30_000, readSeconds: 3 });
  const video = packetsOf(viewed, 'video');
  assert.ok(video.length >= 60, `the edge viewer got ${video.length} video frames\nedge log:\n${edge.logTail()}`);
  assert.ok(video[0]!.flags.startsWith('K'), 'starting at a keyframe');
  assert.ok(await isLive(edge, 'cam'), 'the stream is live at the edge, pulled over KCP');
});
