import { describeDemoStream, ensureDemoStream } from '../auth/demo-stream.js';
import { startMediaServer, type MediaServer } from '../server.js';

/** The lines printed once the service is up: where to publish and where to watch. */
async function welcome(server: MediaServer): Promise<string> {
  const { config } = server;
  const host = config.publicHost;
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
export async function runServe(): Promise<number> {
  const server = await startMediaServer();
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
