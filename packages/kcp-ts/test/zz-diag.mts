import { DEFAULT_KCP_TUNING, LiveRateController } from 'kcp-ts';
import { seededRandom, VirtualLink } from './virtual-link.js';
const LIVE = { ...DEFAULT_KCP_TUNING, congestionControl: 'live' as const };
const key = (n: number) => n % 60 === 0;
const bytes = (n: number) => (key(n) ? 49_000 : 9_800);
const loss = Number(process.env.LOSS ?? 0.05), kbit = Number(process.env.KBIT ?? 50000), seed = Number(process.env.SEED ?? 1);
function run(cc: 'live' | 'none') {
  const link = new VirtualLink({ loss, duplicate: 0, reorder: 0, delayMs: 50, jitterMs: 2, inOrder: true }, seededRandom(seed), { both: { ...LIVE, congestionControl: cc } });
  link.bottleneck = { kbit, queuePackets: 100 };
  if (process.env.STALLS) link.stalls = { chance: 1 / 400, minMs: 20, maxMs: 60 };
  const frame = new Uint8Array(200_000); const view = new DataView(frame.buffer);
  const sentAt: number[] = []; const delay: number[] = []; const floorOn: number[] = []; const pace: number[] = []; let next = 0;
  const c = link.a.sendHooks as LiveRateController | null;
  link.advance(40_000, () => {
    if (link.now % 33 === 0) { view.setUint32(0, next); link.a.send(frame.subarray(0, bytes(next))); floorOn[next] = c ? c.minRto(link.a) : 0; pace[next] = c ? c.pacingKbit : 0; sentAt[next++] = link.now; }
    if (link.stalled(link.b)) return;
    for (let s = link.b.peeksize(); s >= 0; s = link.b.peeksize()) { link.b.recv(frame); const n = view.getUint32(0); delay[n] = link.now - sentAt[n]! - 50; }
  });
  return { delay, floorOn, pace, stats: link.a.stats, c };
}
const live = run('live'), none = run('none');
const idx = live.delay.map((d, i) => [d, i] as const).filter(([, i]) => i > 150).sort((a, b) => b[0] - a[0]).slice(0, 12);
for (const [d, i] of idx) console.log(`frame ${i}${key(i) ? ' KEY' : ''} (gop+${i % 60}) live ${d} none ${none.delay[i]} floor ${live.floorOn[i]} pace ${Math.round(live.pace[i]!)}`);
const idxn = none.delay.map((d, i) => [d, i] as const).filter(([, i]) => i > 150).sort((a, b) => b[0] - a[0]).slice(0, 6);
for (const [d, i] of idxn) console.log(`none-worst frame ${i} (gop+${i % 60}) none ${d} live ${live.delay[i]}`);
const on = live.floorOn.filter((f, i) => i > 150 && f > 0).length; console.log(`floor on at ${on} of ${live.floorOn.length - 150} frame sends; live to ${live.stats.timeoutRetransmits} fr ${live.stats.fastRetransmits}; none to ${none.stats.timeoutRetransmits} fr ${none.stats.fastRetransmits}`);
