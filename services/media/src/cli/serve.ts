import { describeDemoStream, ensureDemoStream } from '../auth/demo-stream.js';
import { StartupError } from '../config-error.js';
import { startMediaServer, type MediaServer } from '../server.js';

const USAGE = `Usage: bridgecast serve

Runs the media service: RTMP (TCP) and RTMP over KCP (UDP) for publishers
and viewers, HTTP-FLV, HLS, the web page at /, and locally the stream-keys
API. Every setting comes from the environment, e.g.

  HTTP_PORT=8081 RTMP_PORT=1936 KCP_PORT=1936 DATA_DIR=./data2 bridgecast serve

Common settings (all of them: the README's Configuration table):
  HOST, RTMP_PORT (1935), KCP_PORT (1935), HTTP_PORT (8080), DATA_DIR (./data)
  AUTH (keys | none), LOG_LEVEL (info), PUBLIC_HOST (127.0.0.1)
  HLS (true), HLS_SEGMENT_SECONDS (2), HLS_WINDOW (6), HLS_BUCKET
  RECORDINGS_MAX_BYTES (10 GiB), RECORDINGS_MAX_DAYS (0 = no age limit)
  RTMP_APPS (live), RTMP_PLAY_WAIT_MS (10000)
  EDGE_ORIGIN (kcp://<origin>:<port>: run as an edge of that origin), EDGE_MODE (all | on-demand), EDGE_NAME
`;

/** The lines printed once the service is up: where to publish and where to watch. */
async function welcome(server: MediaServer): Promise<string> {
  const { config } = server;
  const host = config.publicHost;
  if (config.edge) {
    // An edge takes no publishers (and so needs no demo stream): it shows the origin's streams.
    return `\nBridgecast is running as an edge (${config.edge.name}) of ${config.edge.origin.hostname}: publish at the origin.\n` +
      `  Watch:           http://${host}:${server.httpPort}/\n` +
      `  HTTP-FLV:        http://${host}:${server.httpPort}/live/<stream id>.flv\n\n`;
  }
  let text =
    `\nBridgecast is running.\n` +
    `  Publish (RTMP):  rtmp://${host}:${server.rtmpPort}/live/<stream key>\n` +
    (server.kcpPort !== undefined ? `  Publish (KCP):   kcp://${host}:${server.kcpPort}/live/<stream key>  (bridge OBS/ffmpeg with \`bridgecast kcp-push\`)\n` : '') +
    `  Watch:           http://${host}:${server.httpPort}/\n` +
    `  HTTP-FLV:        http://${host}:${server.httpPort}/live/<stream id>.flv\n`;
  if (config.auth === 'keys' && config.streamsTable) {
    // A shared table (AWS): keys come from the stream-keys API. No demo
    // stream: it would be written into production, its key printed to the logs.
    text += `  Stream keys:     table ${config.streamsTable} (manage them with the stream-keys API: \`bridgecast keys --api <url>\`)\n`;
  } else if (server.streamKeys && config.auth === 'keys') {
    text += `  Stream keys:     http://${host}:${server.httpPort}/api/streams  (or \`bridgecast keys\`)\n\n`;
    const demo = await ensureDemoStream(server.streamKeys, config.dataDir);
    if (demo) text += describeDemoStream(demo, host, server.rtmpPort, server.httpPort);
  } else if (config.auth === 'none') {
    text += `  AUTH=none: any stream name may publish.\n`;
  }
  return `${text}\n`;
}

/** `bridgecast serve`: runs the media service until SIGTERM/SIGINT. */
export async function runServe(argv: string[] = []): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`bridgecast serve takes no arguments (settings come from the environment), got "${argv.join(' ')}"\n\n${USAGE}`);
    return 2;
  }
  let server: MediaServer;
  try {
    server = await startMediaServer();
  } catch (err) {
    // A setting, a busy port or a held data directory: one line the user can act on.
    if (!(err instanceof StartupError)) throw err;
    process.stderr.write(`bridgecast: ${err.message}\n`);
    return 2;
  }
  process.stdout.write(await welcome(server));
  return new Promise<number>((resolve) => {
    let signals = 0;
    const shutdown = (signal: string) => {
      if (++signals > 1) process.exit(1); // a second Ctrl-C means now
      server.logger.info({ signal }, 'shutting down');
      void server.close(`server shutting down (${signal})`).then(() => resolve(0));
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}
