import { intSetting } from './env-settings.js';
import { DEFAULT_KCP_TUNING, type FecSetting, type KcpTuning } from 'kcp-ts';
import { DEFAULT_SOCKET_BUFFER_BYTES } from 'kcp-ts/node';

/**
 * The media service's KCP settings from its environment: KCP_* tuning over
 * kcp-ts's live-video preset, and KCP_FEC. kcp-ts itself takes plain values
 * and reads no environment.
 */
export interface KcpSettings {
  tuning: KcpTuning;
  /** Reed-Solomon FEC on every KCP link (KCP_FEC="10,3"); null: off. Clients must use the same. */
  fec: FecSetting | null;
  /**
   * Live deadline (KCP_LIVE_DEADLINE_MS; 0 turns it off): media that would
   * wait longer than this in a KCP send path's queue is dropped at frame
   * boundaries (see hub/live-deadline.ts).
   */
  liveDeadlineMs: number;
  /**
   * UDP socket buffers the server's KCP endpoint asks for, bytes each way
   * (KCP_SOCKET_BUFFER_BYTES; 0: the kernel's default). Linux caps the
   * request at net.core.rmem_max / wmem_max; the server logs what it got.
   */
  socketBufferBytes: number;
}

/**
 * 600 ms: on a link narrower than the stream (bench:weaknet bw2mbit, 20 s
 * cells, relay path) 400 kept 63% of the frames and 600 kept 68-72% at a
 * p99 of 0.72-0.73 s, since a GOP's frames can wait long enough to fill the
 * link before its tail goes; on links that carry the stream the queue stays
 * far below either, so nothing is dropped there.
 */
export const DEFAULT_LIVE_DEADLINE_MS = 600;

export function loadKcpSettings(env: Record<string, string | undefined>): KcpSettings {
  return {
    tuning: kcpTuningFromEnv(env),
    fec: parseFecSetting(env.KCP_FEC),
    liveDeadlineMs: intSetting(env, 'KCP_LIVE_DEADLINE_MS', DEFAULT_LIVE_DEADLINE_MS, 0, 60_000),
    socketBufferBytes: intSetting(env, 'KCP_SOCKET_BUFFER_BYTES', DEFAULT_SOCKET_BUFFER_BYTES, 0, 256 << 20),
  };
}


/**
 * Tuning from KCP_MTU, KCP_SNDWND, KCP_RCVWND, KCP_INTERVAL, KCP_NODELAY,
 * KCP_RESEND, KCP_NC, KCP_MAX_KBIT and KCP_CC (live|none: the congestion controller),
 * each defaulting to DEFAULT_KCP_TUNING. Throws on a
 * value KCP cannot use. Windows stop at 65535 because the header's window
 * field is 16 bits.
 */
export function kcpTuningFromEnv(env: Record<string, string | undefined>): KcpTuning {
  const d = DEFAULT_KCP_TUNING;
  return {
    mtu: intSetting(env, 'KCP_MTU', d.mtu, 100, 1500),
    sndWnd: intSetting(env, 'KCP_SNDWND', d.sndWnd, 1, 65535),
    rcvWnd: intSetting(env, 'KCP_RCVWND', d.rcvWnd, 128, 65535),
    interval: intSetting(env, 'KCP_INTERVAL', d.interval, 10, 5000),
    nodelay: intSetting(env, 'KCP_NODELAY', d.nodelay, 0, 2),
    resend: intSetting(env, 'KCP_RESEND', d.resend, 0, 1000),
    nc: intSetting(env, 'KCP_NC', d.nc ? 1 : 0, 0, 1) === 1,
    maxKbit: intSetting(env, 'KCP_MAX_KBIT', d.maxKbit, 0, 10_000_000),
    congestionControl: congestionSetting(env.KCP_CC, d.congestionControl),
  };
}

function congestionSetting(raw: string | undefined, fallback: KcpTuning['congestionControl']): KcpTuning['congestionControl'] {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (value === 'live' || value === 'none') return value;
  if (value === 'off') return 'none';
  throw new Error(`KCP_CC must be "live" or "none", got "${raw}"`);
}

/**
 * A kcp:// URL to dial from this server gets its KCP_FEC as `?fec=d:p`,
 * unless it names its own (`?fec=off` for none): both ends of a KCP link
 * must agree, and every KCP port of a deployment runs the same setting, so
 * relay and edge links follow it by default. Other URLs are returned as
 * they are.
 */
export function withServerFec(url: URL, fec: FecSetting | null): URL {
  if (url.protocol !== 'kcp:' || !fec || url.searchParams.has('fec')) return url;
  const withFec = new URL(url.href);
  withFec.searchParams.set('fec', `${fec.dataShards}:${fec.parityShards}`);
  return withFec;
}

/** Parses KCP_FEC="10,3" (data,parity); empty or "off" disables FEC. */
export function parseFecSetting(raw: string | undefined): FecSetting | null {
  if (!raw || raw === 'off' || raw === '0') return null;
  const match = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(raw);
  if (!match) throw new Error(`KCP_FEC must be "<data>,<parity>" such as "10,3", got "${raw}"`);
  const dataShards = Number(match[1]);
  const parityShards = Number(match[2]);
  if (dataShards < 1 || parityShards < 1 || dataShards + parityShards > 256) throw new Error(`KCP_FEC shard counts out of range: "${raw}"`);
  return { dataShards, parityShards };
}
