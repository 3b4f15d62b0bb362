import { FecCodec, type FecSetting, type FecStats } from '../fec/fec-codec.js';

export type { FecSetting };

/**
 * FEC on one UDP link (one remote address and port): outgoing KCP datagrams
 * become data shards followed by parity; incoming shards become the KCP
 * datagrams they carry, lost ones rebuilt from parity. A group left open on
 * a quiet link is closed after `flushAfterMs`, so its last datagrams are
 * protected too. One timer per link, re-armed with refresh(): nothing is
 * allocated per packet for it.
 */
export class FecLink {
  private readonly codec: FecCodec;
  private readonly flushTimer: NodeJS.Timeout;
  private groupOpen = false;

  constructor(setting: FecSetting, private readonly sendShard: (shard: Buffer) => void, flushAfterMs = 20) {
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
    for (const shard of shards) this.sendShard(shard);
    // One shard: the group is still open (parity follows the group's last data shard).
    this.groupOpen = shards.length === 1;
    if (this.groupOpen) this.flushTimer.refresh();
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
    for (const shard of this.codec.flush()) this.sendShard(shard);
  }
}
