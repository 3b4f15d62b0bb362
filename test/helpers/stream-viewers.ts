/**
 * Viewers for the cluster and edge tests: each records when video first
 * arrived, when it came back after a gap of over a second (a failover), and
 * whether its connection closed (a viewer that had to reconnect).
 */
import http from 'node:http';
import { connectRtmp } from '@bridgecast/media/relay/transport.js';

export interface Viewer {
  firstVideoAt: number | null;
  lastVideoAt: number;
  /** The first video after a gap of over a second (the failover). */
  resumedAt: number;
  videoPackets: number;
  closed: boolean;
  close(): void;
}

function newViewer(close: () => void): Viewer {
  return { firstVideoAt: null, lastVideoAt: 0, resumedAt: 0, videoPackets: 0, closed: false, close };
}

function sawVideo(viewer: Viewer): void {
  const now = performance.now();
  viewer.firstVideoAt ??= now;
  if (now - viewer.lastVideoAt > 1000) viewer.resumedAt = now;
  viewer.lastVideoAt = now;
  viewer.videoPackets++;
}

/** An RTMP (rtmp://) or RTMP-over-KCP (kcp://) player of live/<name>. */
export async function rtmpViewer(url: string, name: string): Promise<Viewer> {
  const client = await connectRtmp(new URL(url), 'live');
  const viewer = newViewer(() => client.close('test over'));
  client.on('packet', (p) => {
    if (p.isVideo && !p.isSequenceHeader) sawVideo(viewer);
  });
  client.on('close', () => { viewer.closed = true; });
  await client.play(name);
  return viewer;
}

/** An HTTP-FLV player of live/<name>; counts media crudely by bytes received past the startup tags. */
export function flvViewer(port: number, name: string): Viewer {
  let req: http.ClientRequest | undefined;
  const viewer = newViewer(() => req?.destroy());
  req = http.get({ host: '127.0.0.1', port, path: `/live/${name}.flv` }, (res) => {
    let bytes = 0;
    if (res.statusCode !== 200) { viewer.closed = true; res.resume(); return; }
    res.on('data', (d: Buffer) => {
      bytes += d.length;
      // Past the startup tags (header + metadata + sequence headers are well under 2 KB): media flows.
      if (bytes > 4096) sawVideo(viewer);
    });
    res.on('close', () => { viewer.closed = true; });
  });
  req.on('error', () => { viewer.closed = true; });
  return viewer;
}
