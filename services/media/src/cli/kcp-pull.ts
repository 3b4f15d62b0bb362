import { startPullBridge } from '../client/bridges.js';
import { parseBridgeArgs, printLinkStates, runUntilSignal } from '../client/cli-support.js';
import { loadKcpSettings } from '../kcp-config.js';

const USAGE = `Usage: bridgecast kcp-pull --server kcp://HOST:1935 --listen 127.0.0.1:8090 [--rtmp-listen 127.0.0.1:19351] [--idle 5]

Plays streams from the server over KCP when someone asks for them locally,
and serves them as HTTP-FLV (and RTMP with --rtmp-listen):
  http://127.0.0.1:8090/live/<streamId>.flv
  rtmp://127.0.0.1:19351/live/<streamId>
Reconnects by itself after a network break; a stream nobody watches is
dropped after --idle seconds.

  --server URL             kcp://HOST:PORT (or rtmp://HOST:PORT to compare with TCP)
  --listen HOST:PORT       local HTTP-FLV address
  --rtmp-listen HOST:PORT  local RTMP address (optional)
  --idle SECONDS           grace after the last local viewer leaves (default 5)
`;

/** `bridgecast kcp-pull`: KCP in, local HTTP-FLV and RTMP out. */
export async function runKcpPull(argv: string[]): Promise<number> {
  const parsed = parseBridgeArgs(argv, USAGE, true);
  if ('code' in parsed) return parsed.code;
  const { server, listen, rtmpListen, idleSeconds } = parsed.args;
  if (rtmpListen && rtmpListen.host !== listen.host) {
    process.stderr.write('--listen and --rtmp-listen must use the same host\n');
    return 2;
  }
  const bridge = await startPullBridge({
    server, host: listen.host, httpPort: listen.port, rtmpPort: rtmpListen?.port,
    idleMs: (idleSeconds ?? 5) * 1000, report: printLinkStates(), kcpTuning: loadKcpSettings(process.env).tuning,
  });
  const rtmp = bridge.local.rtmpPort === undefined ? '' : ` and rtmp://${listen.host}:${bridge.local.rtmpPort}/live/<streamId>`;
  process.stdout.write(`kcp-pull: watch http://${listen.host}:${bridge.local.httpPort}/live/<streamId>.flv${rtmp}; streams come from ${server.href} (Ctrl-C to stop)\n`);
  return runUntilSignal(() => bridge.close());
}
