import { startMediaServer } from './server.js';

/**
 * `bridgecast <command>`: `serve` runs the media service; the KCP bridges and
 * the stream-keys tool are further commands.
 */
const USAGE = `Usage: bridgecast <command> [options]

Commands:
  serve        run the media service (RTMP, RTMP over KCP, HTTP-FLV, HLS, API)
`;

async function serve(): Promise<void> {
  const server = await startMediaServer();
  const { config } = server;
  const host = config.publicHost;
  process.stdout.write(
    `\nBridgecast is running.\n` +
      `  Publish (RTMP):  rtmp://${host}:${server.rtmpPort}/live/<stream key>\n` +
      `  Watch:           http://${host}:${server.httpPort}/\n` +
      `  HTTP-FLV:        http://${host}:${server.httpPort}/live/<stream>.flv\n\n`,
  );
  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) process.exit(1); // a second Ctrl-C means now
    server.logger.info({ signal }, 'shutting down');
    void server.close(`server shutting down (${signal})`).then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

const [command = 'serve'] = process.argv.slice(2);
switch (command) {
  case 'serve':
    await serve();
    break;
  case 'help':
  case '--help':
  case '-h':
    process.stdout.write(USAGE);
    break;
  default:
    process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
    process.exit(2);
}
