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
const cases = [
  { name: '5% wide', loss: 0.05, kbit: 50_000 },
  { name: '10% wide', loss: 0.10, kbit: 50_000 },
  { name: '20% wide', loss: 0.20, kbit: 50_000 },
  { name: '5% stalls', loss: 0.05, kbit: 50_000, stalls: true },
  { name: '2%+4M', loss: 0.02, kbit: 4000 },
  { name: '2%+4M stalls', loss: 0.02, kbit: 4000, stalls: true },
  { name: '3M', loss: 0, kbit: 3000 },
];
for (const c of cases) {
  const row: string[] = [];
  for (const [label, cc, conserve] of [['none', 'none', false], ['live', 'live', false], ['live+cons', 'live', true], ['none+cons', 'none', true]] as const) {
    const ps: number[] = []; let resends = 0, repaired = 0, sent = 0, timeouts = 0;
    for (const seed of [1, 2, 3]) {
      const link = new VirtualLink({ loss: c.loss, duplicate: 0, reorder: 0, delayMs: 50, jitterMs: 2, inOrder: true }, seededRandom(seed), { both: { ...LIVE, congestionControl: cc } });
      link.bottleneck = { kbit: c.kbit, queuePackets: 100 };
      if (c.stalls) link.stalls = { chance: 1 / 400, minMs: 20, maxMs: 60 };
      link.a.fastAckConserve = conserve; link.b.fastAckConserve = conserve;
      const d = delays(link, 40_000);
      ps.push(p99(d));
      const st = link.a.stats; resends += st.fastRetransmits + st.timeoutRetransmits; repaired += st.segmentsRepaired; sent += st.segmentsSent; timeouts += st.timeoutRetransmits;
    }
    row.push(`${label}: ${ps.join('/')} rs/rep ${(resends / Math.max(1, repaired)).toFixed(2)} wire ${((sent + resends) / sent).toFixed(2)} to ${timeouts}`);
  }
  console.log(`${c.name.padEnd(14)} ${row.join(' | ')}`);
}
