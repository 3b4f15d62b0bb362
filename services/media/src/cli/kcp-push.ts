import { startPushBridge } from '../client/bridges.js';
import { parseBridgeArgs, printLinkStates, runUntilSignal } from '../client/cli-support.js';
import { loadKcpSettings } from '../kcp-config.js';

const USAGE = `Usage: bridgecast kcp-push --listen 127.0.0.1:19350 --server kcp://HOST:1935

Listens for RTMP locally and carries every stream published to it to the
server over KCP (same app; instead of the stream key, a proof of it bound
to the session, so the key never crosses the network). Point OBS or ffmpeg at
  rtmp://127.0.0.1:19350/live/<streamKey>
Reconnects by itself after a network break.

  --listen HOST:PORT   local RTMP address (default host 127.0.0.1)
  --server URL         kcp://HOST:PORT (or rtmp://HOST:PORT to compare with TCP)

Environment: KCP_* tuning as the server's; KCP_LIVE_DEADLINE_MS (default 600,
0 off) drops media that waited longer in the KCP send queue, at frame
boundaries; KCP_CC=none turns the congestion controller off.
`;

/** `bridgecast kcp-push`: local RTMP in, KCP out. */
export async function runKcpPush(argv: string[]): Promise<number> {
  const parsed = parseBridgeArgs(argv, USAGE, false);
  if ('code' in parsed) return parsed.code;
  const { server, listen } = parsed.args;
  const kcp = loadKcpSettings(process.env);
  const bridge = await startPushBridge({ server, host: listen.host, rtmpPort: listen.port, report: printLinkStates(), kcpTuning: kcp.tuning, liveDeadlineMs: kcp.liveDeadlineMs });
  process.stdout.write(
    `kcp-push: publish to rtmp://${listen.host}:${bridge.local.rtmpPort}/live/<streamKey>; ` +
      `streams go to ${server.href} (Ctrl-C to stop)\n`,
  );
  return runUntilSignal(() => bridge.close());
}
