import { hashStreamKey } from '@bridgecast/stream-keys';
import type { Logger } from '../logger.js';

/**
 * What a relay link (or a bridge, which is the same thing run on a laptop)
 * is doing, reported once per change so the server log and the bridges'
 * console tell the story in one line each.
 */
export type LinkState =
  /** Opening the transport and the RTMP session. */
  | 'connecting'
  /** Connected; the peer has not sent the stream yet (not live there). */
  | 'waiting'
  /** Media is flowing. */
  | 'live'
  /** The link broke; trying again after a delay. */
  | 'retrying'
  /** Finished normally (stream ended, no viewers left, shutdown). */
  | 'stopped'
  /** The peer refused (bad or expired token, relay loop, bad stream key): not retried. */
  | 'refused'
  /** Gave up after failing for too long. */
  | 'failed';

export interface LinkStateChange {
  direction: 'pull' | 'push';
  /** app/name */
  stream: string;
  /** The peer's URL. */
  peer: string;
  state: LinkState;
  detail: string;
}

export type LinkReporter = (change: LinkStateChange) => void;

const STREAM_KEY_ANYWHERE = /sk_[A-Za-z0-9_-]{43}/g;

/**
 * Text with every stream key replaced by `sk_…<8 hex of its hash>`: a push
 * bridge's stream is named by the key OBS published with, and neither its
 * console nor a log may show it (only the command that creates a key does,
 * once). The hash prefix still tells two streams apart.
 */
export function redactStreamKeys(text: string): string {
  return text.replace(STREAM_KEY_ANYWHERE, (key) => `sk_…${hashStreamKey(key).slice(0, 8)}`);
}

/** The default reporter: one log line per change. */
export function logLinkState(logger: Logger): LinkReporter {
  return (c) => {
    const level = c.state === 'refused' || c.state === 'failed' || c.state === 'retrying' ? 'warn' : 'info';
    logger[level]({ relay: c.direction, stream: redactStreamKeys(c.stream), peer: c.peer, state: c.state },
      redactStreamKeys(`relay ${c.direction} ${c.state}: ${c.detail}`));
  };
}

/** `live/st_abc → kcp://origin:1935: live (first packets arrived)`, keys redacted. */
export function describeLinkState(c: LinkStateChange): string {
  const arrow = c.direction === 'pull' ? '←' : '→';
  return redactStreamKeys(`${c.stream} ${arrow} ${c.peer}: ${c.state}${c.detail ? ` (${c.detail})` : ''}`);
}

/** Refusals that retrying cannot fix (as opposed to a broken link or a stream that is briefly still taken). */
export function isPermanentRefusal(message: string): boolean {
  return /Unauthorized|Play\.Failed|StreamNotFound|Connect\.Rejected|server refused/.test(message);
}
