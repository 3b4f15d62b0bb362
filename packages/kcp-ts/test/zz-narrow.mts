import { DEFAULT_KCP_TUNING } from 'kcp-ts';
import { seededRandom, VirtualLink } from './virtual-link.js';
const LIVE = { ...DEFAULT_KCP_TUNING, congestionControl: 'live' as const };
const p99 = (d: number[]) => d[Math.floor(d.length * 0.99)]!;
const key = (n: number) => n % 60 === 0;
const bytes = (n: number) => (key(n) ? 49_000 : 9_800);
function delays(link: VirtualLink, ms: number, from = 5000) {
  const frame = new Uint8Array(200_000); const view = new DataView(frame.buffer);
  const sentAt: number[] = []; const out: number[] = []; let next = 0;
  link.advance(ms, () => {
    if (link.now % 33 === 0) { view.setUint32(0, next); link.a.send(frame.subarray(0, bytes(next))); sentAt[next++] = link.now; }
    if (link.stalled(link.b)) return;
    for (let s = link.b.peeksize(); s >= 0; s = link.b.peeksize()) { link.b.recv(frame); const n = view.getUint32(0); if (sentAt[n]! > from) out.push(link.now - sentAt[n]! - 50); }
  });
  return out.sort((x, y) => x - y);
}
for (const jitter of [0, 2, 10]) for (const stalls of [false, true]) {
  const res: string[] = [];
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const link = new VirtualLink({ loss: 0.02, duplicate: 0, reorder: 0, delayMs: 50, jitterMs: jitter, inOrder: true }, seededRandom(seed), { both: { ...LIVE } });
    link.bottleneck = { kbit: 4000, queuePackets: 100 };
    if (stalls) link.stalls = { chance: 1 / 400, minMs: 20, maxMs: 60 };
    const d = delays(link, 40_000);
    res.push(`${p99(d)}(${link.a.stats.timeoutRetransmits})`);
  }
  console.log(`2%+4M jitter ${jitter} stalls ${stalls}: ${res.join(' ')}`);
}
