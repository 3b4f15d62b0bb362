import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { MediaPacket } from '../hub/media-packet.js';
import { connectKcp } from 'kcp-ts/node';
import { DEFAULT_KCP_TUNING, type KcpTuning } from 'kcp-ts';
import { parseFecSetting } from '../kcp-config.js';
import { RtmpClient } from '../rtmp/client.js';

export const DEFAULT_RELAY_PORT = 1935;

/**
 * Opens the byte stream an RTMP client runs over: `rtmp://host:port` is TCP,
 * `kcp://host:port[?fec=10:3]` is a KCP session over UDP. Everything above (relays,
 * bridges, the client API) is the same for both. KCP sessions take the tuning
 * their caller hands down (the server passes its own KCP_* settings, so both ends
 * of a link can be tuned alike: the windows matter at the receiving end, the
 * resend modes at the sender).
 */
export async function openTransport(url: URL, tuning: KcpTuning = DEFAULT_KCP_TUNING): Promise<Duplex> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : DEFAULT_RELAY_PORT;
  if (url.protocol === 'rtmp:') return openTcp(host, port);
  // `?fec=10:3` (or 10,3) turns on FEC for this link; the server must run with the same KCP_FEC.
  if (url.protocol === 'kcp:') return connectKcp(host, port, { tuning, fec: parseFecSetting(url.searchParams.get('fec')?.replace(':', ',')) });
  throw new Error(`unsupported transport ${url.protocol} (use rtmp:// or kcp://)`);
}

function openTcp(host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Opens a transport to `url` and completes the RTMP handshake and connect for `app`. */
export async function connectRtmp(url: URL, app: string, timeoutMs = 10_000, kcpTuning: KcpTuning = DEFAULT_KCP_TUNING): Promise<RtmpClient> {
  const transport = await openTransport(url, kcpTuning);
  transport.on('error', () => {}); // surfaces as the client's close reason
  return RtmpClient.connect(transport, { app, tcUrl: `${url.protocol}//${url.host}/${app}`, timeoutMs });
}

const PLAY_NOTIFICATIONS = new Set(['|RtmpSampleAccess', 'onStatus']);

/**
 * True for the data messages a server sends a player on its own account
 * (`|RtmpSampleAccess`, `onStatus` NetStream.Data.Start): they are not part
 * of the stream, so relays and the client API do not pass them on.
 */
export function isPlayNotification(packet: MediaPacket): boolean {
  const p = packet.payload;
  if (!packet.isScript || p.length < 3 || p[0] !== 0x02) return false; // AMF0 string marker
  const length = p.readUInt16BE(1);
  return PLAY_NOTIFICATIONS.has(p.toString('utf8', 3, 3 + length));
}
