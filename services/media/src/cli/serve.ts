import { startMediaServer } from '../server.js';

/** `bridgecast serve`: runs the media service until SIGTERM/SIGINT. */
export async function runServe(): Promise<number> {
  const server = await startMediaServer();
  const { config } = server;
  const host = config.publicHost;
  process.stdout.write(
    `\nBridgecast is running.\n` +
      `  Publish (RTMP):  rtmp://${host}:${server.rtmpPort}/live/<stream key>\n` +
      `  Watch:           http://${host}:${server.httpPort}/\n` +
      `  HTTP-FLV:        http://${host}:${server.httpPort}/live/<stream>.flv\n\n`,
  );
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
