import { DEFAULT_KCP_TUNING, LiveRateController } from 'kcp-ts';
import { seededRandom, VirtualLink } from './virtual-link.js';
const LIVE = { ...DEFAULT_KCP_TUNING, congestionControl: 'live' as const };
const key = (n: number) => n % 60 === 0;
const bytes = (n: number) => (key(n) ? 49_000 : 9_800);
for (const [loss, kbit, stalls] of [[0.05, 50000, false], [0.1, 50000, false], [0.2, 50000, false], [0.05, 50000, true], [0.02, 4000, false], [0.02, 4000, true], [0, 3000, false]] as const) {
  const link = new VirtualLink({ loss, duplicate: 0, reorder: 0, delayMs: 50, jitterMs: 2, inOrder: true }, seededRandom(1), { both: { ...LIVE } });
  link.bottleneck = { kbit, queuePackets: 100 };
  if (stalls) link.stalls = { chance: 1 / 400, minMs: 20, maxMs: 60 };
  const c = link.a.sendHooks as LiveRateController;
  const frame = new Uint8Array(200_000); let next = 0; let lastWire = 0; const us: number[] = [];
  const wire = () => (link.a.stats.segmentsSent + link.a.stats.fastRetransmits + link.a.stats.timeoutRetransmits) * 1400;
  link.advance(40_000, () => {
    if (link.now % 33 === 0) { link.a.send(frame.subarray(0, bytes(next++))); }
    for (let s = link.b.peeksize(); s >= 0; s = link.b.peeksize()) link.b.recv(frame);
    if (link.now % 2000 === 0 && link.now > 4000) { const rate = (wire() - lastWire) * 8 / 2000; us.push(rate / c.bandwidthKbit); lastWire = wire(); }
    if (link.now % 2000 === 0 && link.now <= 4000) lastWire = wire();
  });
  us.sort((a, b) => a - b);
  console.log(`loss ${loss} kbit ${kbit} stalls ${stalls}: utilization (wire rate / estimate, 2 s) min ${us[0]!.toFixed(2)} med ${us[us.length >> 1]!.toFixed(2)} max ${us.at(-1)!.toFixed(2)}`);
}
