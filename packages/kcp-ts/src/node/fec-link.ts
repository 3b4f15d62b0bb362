import { FecCodec, type FecSetting, type FecStats } from '../fec/fec-codec.js';
import type { Kcp } from '../kcp.js';

export type { FecSetting };

/** Shard header bytes per datagram, as a share of a full one: parity's cost is a little above parity / data. */
const SHARD_HEADER_SHARE = 0.02;

/**
 * Whether `kcp`'s path has room for the parity of `setting` (see
 * KcpSendOps.hasRoomFor); a session without a controller always sends it.
 */
export function parityFits(kcp: Kcp, setting: FecSetting): boolean {
  return kcp.sendHooks?.hasRoomFor?.(kcp, setting.parityShards / setting.dataShards + SHARD_HEADER_SHARE) ?? true;
}

/**
 * FEC on one UDP link (one remote address and port): outgoing KCP datagrams
 * become data shards followed by parity; incoming shards become the KCP
 * datagrams they carry, lost ones rebuilt from parity. A group left open on
 * a quiet link is closed after `flushAfterMs`, so its last datagrams are
 * protected too. One timer per link, re-armed with refresh(): nothing is
 * allocated per packet for it. `parityWanted` (asked per group) can hold a
 * group's parity back: its data shards still go, and the receiver passes
 * them through as always.
 */
export class FecLink {
  private readonly codec: FecCodec;
  private readonly flushTimer: NodeJS.Timeout;
  private groupOpen = false;

  constructor(
    setting: FecSetting,
    private readonly sendShard: (shard: Buffer) => void,
    private readonly parityWanted: () => boolean = () => true,
    flushAfterMs = 20,
  ) {
    this.codec = new FecCodec(setting.dataShards, setting.parityShards);
    // Fires once now (harmlessly: no group is open); refresh() re-arms a fired timer.
    this.flushTimer = setTimeout(() => this.flushOpenGroup(), flushAfterMs);
    this.flushTimer.unref();
  }

  get stats(): FecStats {
    return this.codec.stats;
  }

  send(datagram: Uint8Array): void {
    const shards = this.codec.encode(datagram);
    // One shard: the group is still open (parity follows the group's last data shard).
    this.groupOpen = shards.length === 1;
    this.sendShard(shards[0]!);
    if (this.groupOpen) this.flushTimer.refresh();
    else this.sendParity(shards, 1);
  }

  receive(shard: Uint8Array, deliver: (datagram: Buffer) => void): void {
    for (const datagram of this.codec.decode(shard)) deliver(datagram);
  }

  close(): void {
    this.groupOpen = false;
    clearTimeout(this.flushTimer);
  }

  private flushOpenGroup(): void {
    if (!this.groupOpen) return;
    this.groupOpen = false;
    this.sendParity(this.codec.flush());
  }

  /** A closed group's parity, `shards` from index `from` on, unless held back. */
  private sendParity(shards: readonly Buffer[], from = 0): void {
    if (shards.length <= from || !this.parityWanted()) return;
    for (let i = from; i < shards.length; i++) this.sendShard(shards[i]!);
  }
}
