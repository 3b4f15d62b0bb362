import dgram from 'node:dgram';
import { seededRandom } from './seeded-random.js';

/**
 * How the proxy mistreats datagrams, independently per datagram and per
 * direction (client->target and target->client get the same treatment).
 */
export interface UdpImpairment {
  /** Percentage of datagrams dropped (0-100). 100 cuts the path: a network break. */
  lossPercent: number;
  /** One-way delay added to every datagram, ms. */
  delayMs: number;
  /** Extra random delay, uniform in [0, jitterMs] ms; jitter alone already reorders. */
  jitterMs: number;
  /** Percentage of datagrams held back by `reorderDelayMs` more, so later ones overtake them. */
  reorderPercent: number;
  /** Extra delay of a reordered datagram, ms (default delayMs + 20). */
  reorderDelayMs?: number;
  /** Percentage of datagrams delivered twice (the copy with its own jitter). */
  duplicatePercent: number;
}

export interface LossyUdpProxyOptions extends Partial<UdpImpairment> {
  /** Where datagrams from clients go. */
  target: { host: string; port: number };
  /** PRNG seed: the same seed and traffic give the same drops (default 1). */
  seed?: number;
}

export interface LossyUdpProxyStats {
  /** Datagrams seen, dropped, duplicated and reordered, both directions together. */
  received: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  /** Datagrams and bytes delivered per direction. */
  deliveredToTarget: number;
  deliveredToClients: number;
  bytesToTarget: number;
  bytesToClients: number;
}

export interface LossyUdpProxy {
  /** Clients send here (127.0.0.1). */
  readonly port: number;
  readonly stats: LossyUdpProxyStats;
  /** Changes impairments from now on (datagrams already delayed keep their schedule). */
  setImpairment(change: Partial<UdpImpairment>): void;
  close(): Promise<void>;
}

const NO_IMPAIRMENT: UdpImpairment = { lossPercent: 0, delayMs: 0, jitterMs: 0, reorderPercent: 0, duplicatePercent: 0 };
const IMPAIRMENT_KEYS = ['lossPercent', 'delayMs', 'jitterMs', 'reorderPercent', 'reorderDelayMs', 'duplicatePercent'] as const;

/**
 * A UDP relay on 127.0.0.1 that loses, delays, jitters, reorders and
 * duplicates datagrams, for tests of KCP (and RTMP over KCP) on a bad
 * network without root or tc/netem. Each client address gets its own
 * upstream socket, so the target sees one source port per client, as
 * through a NAT.
 *
 *   const proxy = await startLossyUdpProxy({ target: { host: '127.0.0.1', port }, lossPercent: 10, delayMs: 50 });
 *   connectKcp('127.0.0.1', proxy.port);
 */
export async function startLossyUdpProxy(options: LossyUdpProxyOptions): Promise<LossyUdpProxy> {
  const impairment: UdpImpairment = { ...NO_IMPAIRMENT };
  const random = seededRandom(options.seed ?? 1);
  const stats: LossyUdpProxyStats = {
    received: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    deliveredToTarget: 0,
    deliveredToClients: 0,
    bytesToTarget: 0,
    bytesToClients: 0,
  };
  const timers = new Set<NodeJS.Timeout>();
  const upstreams = new Map<string, dgram.Socket>();
  let closed = false;

  const setImpairment = (change: Partial<UdpImpairment>): void => {
    for (const key of IMPAIRMENT_KEYS) {
      if (change[key] !== undefined) impairment[key] = change[key];
    }
  };
  setImpairment(options);

  /** Schedules delivery of `datagram` through `deliver` with the current impairments. */
  const relay = (datagram: Buffer, deliver: (datagram: Buffer) => void): void => {
    stats.received++;
    if (random() * 100 < impairment.lossPercent) {
      stats.dropped++;
      return;
    }
    const copies = random() * 100 < impairment.duplicatePercent ? 2 : 1;
    if (copies === 2) stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      let delay = impairment.delayMs + random() * impairment.jitterMs;
      if (random() * 100 < impairment.reorderPercent) {
        stats.reordered++;
        delay += impairment.reorderDelayMs ?? impairment.delayMs + 20;
      }
      if (delay < 1) {
        deliver(datagram);
        continue;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!closed) deliver(datagram);
      }, delay);
      timers.add(timer);
    }
  };

  const front = dgram.createSocket('udp4');
  front.on('message', (datagram, client) => {
    const key = `${client.address}:${client.port}`;
    let upstream = upstreams.get(key);
    if (upstream === undefined) {
      const socket = dgram.createSocket('udp4');
      socket.on('message', (reply) =>
        relay(reply, (delayed) => {
          stats.deliveredToClients++;
          stats.bytesToClients += delayed.length;
          front.send(delayed, client.port, client.address);
        }),
      );
      socket.bind(0, '127.0.0.1');
      upstreams.set(key, socket);
      upstream = socket;
    }
    const socket = upstream;
    relay(datagram, (delayed) => {
      stats.deliveredToTarget++;
      stats.bytesToTarget += delayed.length;
      socket.send(delayed, options.target.port, options.target.host);
    });
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));

  return {
    port: front.address().port,
    stats,
    setImpairment,
    close: async () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      const sockets = [front, ...upstreams.values()];
      await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    },
  };
}
