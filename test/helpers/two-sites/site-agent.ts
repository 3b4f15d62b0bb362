/**
 * What runs inside one site's network namespace for the two-site test
 * (`ip netns exec NS node --import tsx test/helpers/two-sites/site-agent.ts …`):
 * the test process itself stays in the root namespace, which reaches neither
 * site, so everything that talks to a site runs here and reports on stdout,
 * one JSON object per line.
 *
 *   cluster
 *     a local cluster (scripts/local-cluster.ts) with its load balancer on
 *     0.0.0.0, task ids prefixed with SITE_NAME, the tasks' extra environment taken from SITE_TASK_ENV (JSON,
 *     in the environment so a relay secret never shows on a command line).
 *     Prints {"cluster": {...ports, task pids}}; then answers stdin lines
 *     `get <path>` (HTTP GET on the load balancer) with {"reply": {status, body}}.
 *     Stops its cluster when stdin closes or on SIGTERM.
 *   view <httpPort> <name>
 *     an HTTP-FLV viewer on one connection: {"frame": [timestamp, arrivedAt]}
 *     per video frame, then {"closed": reason} if the connection ends.
 *   watch-hls <s3Endpoint> <streamId>
 *     polls the live playlist every 100 ms: {"segment": {uri, seenAt, pts}}
 *     the first time it lists a segment (pts: the segment's first video PTS,
 *     90 kHz, which names the same media on every site).
 */
import readline from 'node:readline';
import { hlsKeys } from '@bridgecast/contracts';
import { startViewer } from '../../../bench/lib/viewers.js';
import { CLUSTER_BUCKET, startLocalCluster } from '../../../scripts/local-cluster.js';
import { sleep } from '../media-server.js';
import { demuxTs } from '../ts-demux.js';

const H264_STREAM_TYPE = 0x1b;

function say(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function cluster(): Promise<void> {
  const env = JSON.parse(process.env.SITE_TASK_ENV ?? '{}') as Record<string, string>;
  const site = await startLocalCluster({ tasks: 2, env, lbListen: '0.0.0.0', idPrefix: process.env.SITE_NAME });
  let closing: Promise<void> | undefined;
  const stop = () => {
    closing ??= site.close().then(() => process.exit(0));
    return closing;
  };
  process.once('SIGTERM', () => void stop());
  say({ cluster: { lb: site.lb, s3Endpoint: site.s3Endpoint, tasks: site.tasks.map((t) => ({ id: t.id, pid: t.child.pid, httpPort: t.httpPort })) } });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [command, arg] = line.split(' ');
    if (command === 'get') {
      try {
        const res = await fetch(`http://127.0.0.1:${site.lb.httpPort}${arg}`);
        say({ reply: { status: res.status, body: await res.text() } });
      } catch (err) {
        say({ reply: { status: 0, body: (err as Error).message } });
      }
    } else if (command === 'logs') {
      say({ reply: { status: 200, body: site.tasks.map((t) => `--- ${t.id}\n${t.log().slice(-Number(arg ?? 4000))}`).join('\n') } });
    }
  }
  await stop();
}

async function view(httpPort: number, name: string): Promise<void> {
  const viewer = await startViewer('flv', { host: '127.0.0.1', rtmpPort: 0, httpPort, app: 'live', name },
    (f) => say({ frame: [f.timestamp, f.arrivedAt] }));
  say({ closed: await viewer.closed });
  process.exit(0);
}

/** A watcher's read that takes longer than this is abandoned and the playlist read again (a stuck request must not hide listings). */
const WATCH_READ_TIMEOUT_MS = 1000;

async function watchHls(s3Endpoint: string, streamId: string): Promise<void> {
  // Plain unsigned GETs (s3rver does not check signatures), each with a timeout: the SDK's retries could hold a poll for seconds.
  const get = async (key: string) => {
    const res = await fetch(`${s3Endpoint}/${CLUSTER_BUCKET}/${key}`, { signal: AbortSignal.timeout(WATCH_READ_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`GET ${key}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  };
  const playlistKey = hlsKeys.livePlaylist(streamId);
  const firstVideoPts = async (key: string) => {
    const demuxed = demuxTs(await get(key));
    const pid = demuxed.streams.find((s) => s.streamType === H264_STREAM_TYPE)?.pid;
    return demuxed.frames.find((f) => f.pid === pid)?.pts ?? null;
  };
  const seen = new Set<string>();
  for (;;) {
    const polledAt = Date.now();
    let text = '';
    try {
      text = (await get(playlistKey)).toString('utf8');
    } catch { /* not written yet, or the read timed out */ }
    // Listed by the time the answer arrived (an upper bound, off by the read's duration).
    const seenAt = Date.now();
    for (const uri of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      if (seen.has(uri)) continue;
      seen.add(uri);
      // Read beside the polling, so a slow segment read never delays noticing the next listing.
      void firstVideoPts(new URL(uri, `http://bucket/${playlistKey}`).pathname.slice(1))
        .then((pts) => say({ segment: { uri, seenAt, pts } }), () => say({ segment: { uri, seenAt, pts: null } }));
    }
    await sleep(Math.max(0, 100 - (Date.now() - polledAt)));
  }
}

const [command, ...args] = process.argv.slice(2);
if (command === 'cluster') await cluster();
else if (command === 'view') await view(Number(args[0]), args[1]!);
else if (command === 'watch-hls') await watchHls(args[0]!, args[1]!);
else {
  process.stderr.write('usage: site-agent.ts cluster | view <httpPort> <name> | watch-hls <s3Endpoint> <streamId>\n');
  process.exit(2);
}
