/**
 * Publishing and playing over KCP from a Node.js or Electron app.
 *
 *   import { playOverKcp, publishOverKcp } from './client/index.js';
 *
 *   // Watch: packets arrive as MediaPacket (FLV tag type, timestamp, payload).
 *   const player = await playOverKcp('kcp://ingest.example.com:1935/live', 'st_abc123');
 *   for await (const packet of player) {
 *     if (packet.isKeyframe) console.log('keyframe at', packet.timestamp);
 *   }
 *
 *   // Publish any source of packets (for instance read from an FLV file or an encoder):
 *   await publishOverKcp('kcp://ingest.example.com:1935/live', 'sk_yourStreamKey', packets);
 *
 * `rtmp://host:port/app` works the same over TCP. These calls do not
 * reconnect; long-running apps that want that behaviour use the bridges
 * (startPushBridge / startPullBridge in ./bridges.js).
 */
import type { MediaPacket } from '../hub/media-packet.js';
import type { RtmpClient } from '../rtmp/client.js';
import type { KcpTuning } from 'kcp-ts';
import { connectRtmp, isPlayNotification } from '../relay/transport.js';

import { publishNameFor } from './bridges.js';

export { startPullBridge, startPushBridge } from './bridges.js';
export type { MediaPacket };

/** Splits `kcp://host:port/app` into the server URL and the app (default "live"). */
function target(url: string | URL): { server: URL; app: string } {
  const server = new URL(url);
  const app = server.pathname.split('/').filter(Boolean)[0] ?? 'live';
  return { server, app };
}

export interface PublishOptions {
  /** Pause reading `packets` while more than this many bytes wait to be sent (default 4 MiB). */
  maxQueuedBytes?: number;
  /** KCP tuning of kcp:// links (default: kcp-ts's live-video preset). */
  kcpTuning?: KcpTuning;
}

export interface PlayOptions {
  /** KCP tuning of kcp:// links (default: kcp-ts's live-video preset). */
  kcpTuning?: KcpTuning;
}

/**
 * Publishes `packets` as stream `name` (a stream key) until the source ends;
 * resolves when all were handed over. Over kcp:// the key never leaves this
 * process: the server gets a proof of it bound to the session.
 */
export async function publishOverKcp(url: string | URL, name: string, packets: AsyncIterable<MediaPacket> | Iterable<MediaPacket>, options: PublishOptions = {}): Promise<void> {
  const { server, app } = target(url);
  const client = await connectRtmp(server, app, undefined, options.kcpTuning);
  const maxQueued = options.maxQueuedBytes ?? 4 * 1024 * 1024;
  let closedReason: string | null = null;
  client.once('close', (reason) => (closedReason = reason));
  try {
    await client.publish(publishNameFor(server, app, name, client.connection.serverNonce));
    for await (const packet of packets) {
      if (closedReason !== null) throw new Error(`connection closed: ${closedReason}`);
      client.sendPacket(packet);
      while (client.queuedBytes > maxQueued && closedReason === null) await waitForDrain(client);
    }
  } finally {
    client.close('publish finished');
  }
}

function waitForDrain(client: RtmpClient): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.connection.transport.off('drain', done);
      resolve();
    };
    const timer = setTimeout(done, 100); // a transport that never drains is noticed via 'close'
    client.connection.transport.once('drain', done);
  });
}

/** A stream being played: async-iterate it for its packets; the iteration ends when the stream or connection does. */
export interface KcpPlayer extends AsyncIterable<MediaPacket> {
  readonly client: RtmpClient;
  close(): void;
}

/** Plays stream `name` (append `?token=…` when the server requires play tokens). */
export async function playOverKcp(url: string | URL, name: string, options: PlayOptions = {}): Promise<KcpPlayer> {
  const { server, app } = target(url);
  const client = await connectRtmp(server, app, undefined, options.kcpTuning);
  const queue: MediaPacket[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  client.on('packet', (p) => {
    if (isPlayNotification(p)) return;
    queue.push(p);
    notify();
  });
  client.on('status', (code) => {
    if (code === 'NetStream.Play.UnpublishNotify' || code === 'NetStream.Play.Stop') client.close('stream ended');
  });
  client.once('close', () => {
    ended = true;
    notify();
  });
  try {
    await client.play(name);
  } catch (err) {
    client.close('play failed');
    throw err;
  }
  return {
    client,
    close: () => client.close('player closed'),
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          const next = queue.shift();
          if (next) yield next;
          else if (ended) return;
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        client.close('player closed');
      }
    },
  };
}
