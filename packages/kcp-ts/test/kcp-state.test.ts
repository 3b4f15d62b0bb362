import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Kcp,
  KcpCommand,
  KcpInputError,
  KcpRecvError,
  KcpSendError,
  KCP_OVERHEAD,
  MAX_FRAGMENTS,
  decodeHeader,
  encodeHeader,
  seqDiff,
  type KcpSendOps,
} from 'kcp-ts';
import { CLEAN_PATH, VirtualLink, commandsIn, drainMessages, seededRandom } from './virtual-link.js';

const noOutput = (): void => {};

function bytes(length: number, seed = 1): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

function pushSegment(conv: number, sn: number, payload: Uint8Array, una = 0): Uint8Array {
  const datagram = new Uint8Array(KCP_OVERHEAD + payload.length);
  encodeHeader(datagram, 0, { conv, cmd: KcpCommand.Push, frg: 0, wnd: 128, ts: 0, sn, una, len: payload.length });
  datagram.set(payload, KCP_OVERHEAD);
  return datagram;
}

test('seqDiff compares across the 2^32 wrap', () => {
  assert.equal(seqDiff(5, 0xfffffffb), 10);
  assert.equal(seqDiff(0xfffffffb, 5), -10);
  assert.equal(seqDiff(0, 0), 0);
});

test('a message of MAX_FRAGMENTS segments is accepted and reassembled; one byte more is refused', () => {
  const link = new VirtualLink(CLEAN_PATH, seededRandom(1), { both: { sndWnd: 256, nodelay: 1, interval: 10, nc: true } });
  const mss = link.a.mss;
  assert.equal(link.a.send(new Uint8Array(MAX_FRAGMENTS * mss + 1)), KcpSendError.TooLarge);
  assert.equal(link.a.waitsnd(), 0, 'a refused message queues nothing');

  const largest = bytes(MAX_FRAGMENTS * mss, 7);
  assert.equal(link.a.send(largest), 0);
  assert.equal(link.a.waitsnd(), MAX_FRAGMENTS);
  link.advance(200);
  const received = drainMessages(link.b);
  assert.equal(received.length, 1);
  assert.deepEqual(received[0], largest);
});

test('pacing (maxKbit) spreads what the window allows over time: never ahead of the rate plus one burst, never far behind it', () => {
  /** Bytes put on the wire by a sender with `maxKbit`, per 10 ms flush over one second, with 300 KB to send and no acks. */
  function wireBytesPerFlush(maxKbit: number): number[] {
    const sent: number[] = [];
    let flushBytes = 0;
    const kcp = new Kcp(1, (datagram) => (flushBytes += datagram.length), { mtu: 1350, sndWnd: 384, nodelay: 1, interval: 10, resend: 2, nc: true, stream: true, maxKbit });
    for (let i = 0; i < 3; i++) assert.equal(kcp.send(bytes(100_000, i)), 0);
    for (let t = 0; t <= 1000; t += 10) {
      kcp.update(t);
      sent.push(flushBytes);
      flushBytes = 0;
    }
    return sent;
  }
  const unpaced = wireBytesPerFlush(0);
  assert.ok(unpaced[0]! >= 128 * 1350, `unpaced, the first flush sends a whole window (128 segments, the peer's default) at once (${unpaced[0]} bytes)`);

  const paced = wireBytesPerFlush(800); // 100 bytes per ms
  const burst = 2 * 1350;
  let total = 0;
  paced.forEach((bytesNow, i) => {
    total += bytesNow;
    assert.ok(total <= 100 * i * 10 + burst, `by ${i * 10} ms: ${total} bytes, over the rate`);
  });
  assert.ok(total >= 0.9 * 100 * 1000, `in one second ${total} bytes, well under the rate`);
});

test('send hooks (sendOps) set each flush\'s budget: one segment per flush goes out, the rest waits, acks are never held', () => {
  const budgets: number[] = [];
  const oneSegmentPerFlush: KcpSendOps = {
    sendBudget: (kcp) => KCP_OVERHEAD + kcp.mss,
    sent: (_kcp, unspent) => budgets.push(unspent),
  };
  const pushesPerFlush: number[] = [];
  let pushes = 0;
  let acks = 0;
  const kcp = new Kcp(1, (datagram) => {
    for (const cmd of commandsIn(datagram)) {
      if (cmd === KcpCommand.Push) pushes++;
      if (cmd === KcpCommand.Ack) acks++;
    }
  }, { mtu: 1000, interval: 10, nodelay: 1, nc: true, sndWnd: 64, sendOps: oneSegmentPerFlush });
  assert.equal(kcp.send(bytes(5 * kcp.mss, 1)), 0);
  // The peer's data arrives meanwhile: its ack must go out even when the budget is spent.
  assert.equal(kcp.input(pushSegment(1, 0, new Uint8Array(10))), 0);
  for (let t = 0; t < 50; t += 10) {
    kcp.update(t);
    pushesPerFlush.push(pushes);
    pushes = 0;
  }
  assert.deepEqual(pushesPerFlush, [1, 1, 1, 1, 1]);
  assert.equal(acks, 1);
  assert.deepEqual(budgets, [0, 0, 0, 0, 0]);

  kcp.setSendOps(null); // back to ikcp's behaviour: nothing left waits
  assert.equal(kcp.send(bytes(3 * kcp.mss, 2)), 0);
  kcp.update(50);
  assert.equal(pushes, 3);
});

test('recv reports an empty queue, an incomplete message and a too-small buffer', () => {
  const kcp = new Kcp(1, noOutput);
  assert.equal(kcp.recv(new Uint8Array(10)), KcpRecvError.Empty);
  // Second fragment (frg 1 = one more follows) arrives without its tail.
  const head = pushSegment(1, 0, new Uint8Array(5));
  head[5] = 1;
  assert.equal(kcp.input(head), 0);
  assert.equal(kcp.peeksize(), -1);
  assert.equal(kcp.recv(new Uint8Array(100)), KcpRecvError.Incomplete);
  assert.equal(kcp.input(pushSegment(1, 1, new Uint8Array(5))), 0);
  assert.equal(kcp.peeksize(), 10);
  assert.equal(kcp.recv(new Uint8Array(9)), KcpRecvError.BufferTooSmall);
  assert.equal(kcp.recv(new Uint8Array(10)), 10);
});

test('fragments whose frg promises more than arrives never complete a message, and recv never reads past the queue', () => {
  // What a hostile peer sent the server: three segments that all claim two more follow.
  const kcp = new Kcp(1, noOutput);
  for (let sn = 0; sn < 3; sn++) {
    const fragment = pushSegment(1, sn, new Uint8Array(5));
    fragment[5] = 2;
    assert.equal(kcp.input(fragment), 0);
  }
  assert.equal(kcp.peeksize(), -1, 'no frg 0 in the queue: no complete message');
  assert.equal(kcp.recv(new Uint8Array(100)), KcpRecvError.Incomplete);
  // frg larger than the queue also waits.
  const short = new Kcp(2, noOutput);
  const head = pushSegment(2, 0, new Uint8Array(5));
  head[5] = 9;
  short.input(head);
  short.input(pushSegment(2, 1, new Uint8Array(5)));
  assert.equal(short.peeksize(), -1, 'the queue is shorter than frg + 1');
  assert.equal(short.recv(new Uint8Array(100)), KcpRecvError.Incomplete);
});

test('in stream mode a peer\'s frg is ignored: every segment is data of its own', () => {
  const kcp = new Kcp(1, noOutput, { stream: true });
  for (let sn = 0; sn < 3; sn++) {
    const fragment = pushSegment(1, sn, Uint8Array.of(sn, sn));
    fragment[5] = 2;
    assert.equal(kcp.input(fragment), 0);
  }
  const received: number[] = [];
  const target = new Uint8Array(100);
  for (let size = kcp.peeksize(); size >= 0; size = kcp.peeksize()) {
    assert.equal(kcp.recv(target), size);
    received.push(...target.subarray(0, size));
  }
  assert.deepEqual(received, [0, 0, 1, 1, 2, 2]);
});

test('sending stops while the remote window is 0 and resumes after a window probe', () => {
  const link = new VirtualLink(CLEAN_PATH, seededRandom(2), { both: { nodelay: 1, interval: 10, nc: true, sndWnd: 512 } });
  // b never reads: its receive queue fills its 128-segment window.
  for (let i = 0; i < 300; i++) link.a.send(bytes(100, i));
  link.advance(500);
  assert.equal(link.a.remoteWnd, 0, 'b advertises a zero window');
  const stalledAt = link.a.sendNext;
  assert.equal(stalledAt, 128, 'a sent exactly one receive window');
  link.advance(3000);
  assert.equal(link.a.sendNext, stalledAt, 'nothing new is sent into a zero window');

  // b reads everything; its WINS is lost, so only a's probe (after 7 s) can reopen the window.
  link.bToAOpen = false;
  assert.equal(drainMessages(link.b).length, 128);
  link.advance(50);
  link.bToAOpen = true;
  const probesBefore = link.sentByA.filter((d) => commandsIn(d).includes(KcpCommand.WindowAsk)).length;
  link.advance(5000);
  const probes = link.sentByA.filter((d) => commandsIn(d).includes(KcpCommand.WindowAsk)).length;
  assert.ok(probes > probesBefore, 'a sent a window probe');
  assert.ok(link.b.stats.segmentsReceived >= 128, 'b answered');
  let delivered = 128;
  for (let step = 0; step < 40 && delivered < 300; step++) {
    link.advance(50);
    delivered += drainMessages(link.b).length;
  }
  assert.equal(delivered, 300, 'all messages arrive once the window reopened');
});

test('acks remove segments; duplicate and stale acks change nothing', () => {
  const link = new VirtualLink(CLEAN_PATH, seededRandom(3), { both: { nodelay: 1, interval: 10 } });
  for (let i = 0; i < 10; i++) link.a.send(bytes(50, i));
  link.advance(300);
  assert.equal(link.a.waitsnd(), 0, 'every segment was acknowledged');
  assert.equal(link.a.sendUna, 10);
  const acks = link.sentByB.filter((d) => commandsIn(d).includes(KcpCommand.Ack));
  assert.ok(acks.length > 0);
  for (const ack of acks) assert.equal(link.a.input(ack), 0, 'a repeated ack is accepted');
  assert.equal(link.a.sendUna, 10);
  assert.equal(link.a.waitsnd(), 0);
  assert.equal(link.a.stats.invalidDatagrams, 0);
});

test('a selective ack removes only its segment, and una releases the rest', () => {
  const sent: Uint8Array[] = [];
  const a = new Kcp(9, (d) => sent.push(d.slice()), { nodelay: 1, interval: 10, nc: true });
  for (let i = 0; i < 5; i++) a.send(bytes(10, i));
  a.update(0);
  assert.equal(a.waitsnd(), 5);
  const ack = (sn: number, una: number): Uint8Array => {
    const datagram = new Uint8Array(KCP_OVERHEAD);
    encodeHeader(datagram, 0, { conv: 9, cmd: KcpCommand.Ack, frg: 0, wnd: 128, ts: 0, sn, una, len: 0 });
    return datagram;
  };
  a.input(ack(2, 0));
  assert.equal(a.waitsnd(), 4);
  assert.equal(a.sendUna, 0, 'una stays at the first unacked segment');
  a.input(ack(7, 0));
  assert.equal(a.waitsnd(), 4, 'an ack beyond snd_nxt is ignored');
  a.input(ack(0, 2));
  assert.equal(a.waitsnd(), 2, 'una 2 released sn 0 and 1; sn 2 was already gone');
  assert.equal(a.sendUna, 3);
});

function retransmissionGaps(nodelay: number): number[] {
  const times: number[] = [];
  let now = 0;
  const a = new Kcp(5, (d) => {
    if (commandsIn(d).includes(KcpCommand.Push)) times.push(now);
  }, { nodelay, interval: 10 });
  a.send(new Uint8Array(10));
  for (now = 0; now < 20_000 && times.length < 6; now += 1) a.update(now);
  return times.slice(1).map((t, i) => t - times[i]);
}

test('RTO backs off: doubling normally, x1.5 with nodelay', () => {
  const normal = retransmissionGaps(0);
  const nodelay = retransmissionGaps(1);
  assert.equal(normal.length, 5);
  // The first wait also includes rto/8 of slack (ikcp's rtomin), so compare from the second.
  for (let i = 2; i < normal.length; i++) {
    const ratio = normal[i] / normal[i - 1];
    assert.ok(ratio > 1.8 && ratio < 2.2, `normal backoff ratio ${ratio} (${normal})`);
  }
  for (let i = 1; i < nodelay.length; i++) {
    const ratio = nodelay[i] / nodelay[i - 1];
    assert.ok(ratio > 1.35 && ratio < 1.65, `nodelay backoff ratio ${ratio} (${nodelay})`);
  }
  assert.ok(nodelay[4] < normal[4] / 2, 'nodelay grows much slower');
});

test('RTO follows the measured round trip', () => {
  const link = new VirtualLink({ ...CLEAN_PATH, delayMs: 50 }, seededRandom(4), { both: { nodelay: 1, interval: 10 } });
  for (let i = 0; i < 20; i++) {
    link.a.send(bytes(100, i));
    link.advance(50);
  }
  link.advance(300);
  assert.ok(link.a.srtt >= 90 && link.a.srtt <= 130, `srtt ${link.a.srtt}`);
  assert.ok(link.a.rto >= link.a.srtt && link.a.rto < 250, `rto ${link.a.rto}`);
});

test('fast retransmit repairs a single loss before the RTO', () => {
  const link = new VirtualLink({ ...CLEAN_PATH, delayMs: 30 }, seededRandom(5), { both: { nodelay: 1, interval: 10, resend: 2, nc: true } });
  // Let the RTT estimate settle so the RTO is well above the fast path.
  link.a.send(bytes(10));
  link.advance(200);
  assert.equal(link.a.waitsnd(), 0);
  link.aToBOpen = false;
  link.a.send(bytes(1000, 1));
  link.advance(10); // its first transmission is lost
  link.aToBOpen = true;
  for (let i = 0; i < 4; i++) {
    link.a.send(bytes(1000, i + 2));
    link.advance(10);
  }
  link.advance(100);
  assert.equal(link.a.stats.segmentsSent, 6);
  assert.ok(link.a.stats.fastRetransmits >= 1, 'fast retransmit fired');
  assert.equal(link.a.stats.timeoutRetransmits, 0, 'the RTO never had to');
  assert.equal(drainMessages(link.b).length, 6);
});

test('sn and ts wrap around 2^32 without losing order', () => {
  const start = 0xfffffff0;
  const link = new VirtualLink(
    { loss: 0.1, duplicate: 0.05, reorder: 0.1, delayMs: 20, jitterMs: 10 },
    seededRandom(6),
    {
      both: { nodelay: 1, interval: 10, resend: 2, nc: true },
      a: { initialSendSn: start },
      b: { initialRecvSn: start },
      startTime: 0xffffff00,
    },
  );
  const messages = Array.from({ length: 100 }, (_, i) => bytes(1 + ((i * 37) % 3000), i));
  for (const message of messages) link.a.send(message);
  const received: Uint8Array[] = [];
  for (let i = 0; i < 100 && received.length < messages.length; i++) {
    link.advance(50);
    received.push(...drainMessages(link.b));
  }
  assert.deepEqual(received, messages);
  assert.ok(link.a.sendNext < 1000, `sn wrapped (snd_nxt ${link.a.sendNext})`);
  assert.ok(link.now > 2 ** 32, 'the clock wrapped too');
  assert.ok(link.a.srtt > 0 && link.a.srtt < 200, `srtt stays sane across the ts wrap: ${link.a.srtt}`);
});

test('stream mode merges small sends into full segments and keeps the bytes in order', () => {
  const link = new VirtualLink(CLEAN_PATH, seededRandom(7), { both: { stream: true, nodelay: 1, interval: 10 } });
  const mss = link.a.mss;
  const parts = Array.from({ length: 40 }, (_, i) => bytes(100, i));
  for (const part of parts) link.a.send(part);
  assert.equal(link.a.waitsnd(), Math.ceil((40 * 100) / mss), 'sends were merged into full segments');
  link.advance(300);
  const received = Buffer.concat(drainMessages(link.b));
  assert.deepEqual(received, Buffer.concat(parts));
});

test('a segment sent deadLink times marks the link dead', () => {
  const a = new Kcp(3, noOutput, { nodelay: 1, interval: 10, deadLink: 4 });
  a.send(new Uint8Array(1));
  let now = 0;
  for (; now < 60_000 && a.state === 0; now += 10) a.update(now);
  assert.equal(a.state, -1);
  assert.equal(a.stats.timeoutRetransmits, 3, 'one transmission plus three retransmissions');
});

test('input rejects malformed datagrams with ikcp codes and counts them', () => {
  const kcp = new Kcp(42, noOutput);
  const good = pushSegment(42, 0, bytes(10));
  assert.equal(kcp.input(good.subarray(0, 23)), KcpInputError.Malformed);
  assert.equal(kcp.input(pushSegment(43, 0, bytes(10))), KcpInputError.Malformed, 'other conversation');
  const tooLong = good.slice();
  tooLong[20] = 200;
  assert.equal(kcp.input(tooLong), KcpInputError.BadLength);
  const badCommand = good.slice();
  badCommand[4] = 99;
  assert.equal(kcp.input(badCommand), KcpInputError.BadCommand);
  assert.equal(kcp.stats.invalidDatagrams, 4);
  assert.equal(kcp.input(good), 0);
  assert.equal(kcp.peeksize(), 10);
});

test('check() says when update is next due', () => {
  const kcp = new Kcp(1, noOutput, { interval: 20 });
  assert.equal(kcp.check(1000), 1000, 'before the first update: now');
  kcp.update(1000);
  assert.equal(kcp.check(1005), 1020);
  kcp.send(new Uint8Array(10));
  kcp.update(1020);
  const next = kcp.check(1021);
  assert.ok(next > 1021 && next <= 1040, `next ${next}`);
});

test('header layout is little-endian at the documented offsets', () => {
  const datagram = new Uint8Array(KCP_OVERHEAD);
  encodeHeader(datagram, 0, { conv: 0x04030201, cmd: 81, frg: 2, wnd: 0x0605, ts: 0x0a090807, sn: 0x0e0d0c0b, una: 0x1211100f, len: 0 });
  assert.deepEqual(
    [...datagram],
    [1, 2, 3, 4, 81, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 0, 0, 0, 0],
  );
  assert.equal(decodeHeader(datagram).sn, 0x0e0d0c0b);
});

test('unsentSegments counts what has not gone out even once (queue plus what the send hooks held back); waitsnd also counts the flight', () => {
  const oneSegmentPerFlush: KcpSendOps = { sendBudget: (kcp) => KCP_OVERHEAD + kcp.mss, sent: () => {} };
  const kcp = new Kcp(1, () => {}, { mtu: 1000, interval: 10, nodelay: 1, nc: true, sndWnd: 64, sendOps: oneSegmentPerFlush });
  assert.equal(kcp.send(bytes(5 * kcp.mss, 1)), 0);
  assert.equal(kcp.unsentSegments(), 5);
  kcp.update(0);
  assert.equal(kcp.unsentSegments(), 4, 'one went out, four wait in the window for budget');
  assert.equal(kcp.waitsnd(), 5);
  assert.equal(kcp.inflightBytes, KCP_OVERHEAD + kcp.mss);
  kcp.update(10);
  kcp.update(20);
  assert.equal(kcp.unsentSegments(), 2);
});

test('an ack read late after the last update is timed at its arrival when input is given the time (a busy event loop must not shorten RTTs)', () => {
  const toB: Uint8Array[] = [];
  const toA: Uint8Array[] = [];
  const a = new Kcp(1, (d) => toB.push(d.slice()), { nodelay: 1, interval: 10, nc: true });
  const b = new Kcp(1, (d) => toA.push(d.slice()), { nodelay: 1, interval: 10, nc: true });
  a.update(1000);
  b.update(1000);
  a.send(new Uint8Array(100));
  a.update(1010);
  for (const d of toB.splice(0)) b.input(d);
  b.update(1050);
  a.update(1060); // the last update before the ack is read
  const [ack] = toA.splice(0);
  assert.ok(ack !== undefined);
  a.input(ack, 1120); // read 60 ms after that update
  assert.equal(a.rtt, 110, 'RTT from the transmission at 1010 to the arrival at 1120');
  // Without the arrival time, ikcp's behaviour: the last update's clock.
  const c = new Kcp(1, noOutput, { nodelay: 1, interval: 10, nc: true });
  c.update(1000);
  c.send(new Uint8Array(100));
  c.update(1010);
  c.update(1060);
  c.input(ack);
  assert.equal(c.rtt, 50);
  // The clock never goes back.
  c.input(ack, 1030);
  assert.equal(c.rtt, 50);
});

test('segmentsFilledGap counts segments that arrived after a later one (a lost first copy): the receiver\'s loss estimate', () => {
  const conv = 9;
  const rx = new Kcp(conv, noOutput, { nodelay: 1, interval: 10, nc: true });
  const payload = bytes(100);
  for (const sn of [0, 1, 3, 4, 2, 5, 3, 7, 6]) rx.input(pushSegment(conv, sn, payload));
  // 2 came after 3 and 4; 6 after 7. The second 3 is a duplicate, not a gap filled.
  assert.equal(rx.stats.segmentsFilledGap, 2);
  assert.equal(rx.stats.duplicateSegments, 1);
  assert.equal(rx.stats.segmentsReceived, 8);
});

test('segmentsRepaired counts each segment that needed a repair once, however many copies it took', () => {
  const conv = 9;
  const options = { nodelay: 1, interval: 10, resend: 2, nc: true };
  let copiesOfTwoDropped = 0;
  const receiver = new Kcp(conv, (datagram) => sender.input(datagram.slice()), options);
  const sender: Kcp = new Kcp(conv, (datagram) => {
    // One segment per datagram (1000-byte payloads): lose segment 2's first four copies.
    const isTwo = datagram[4] === 81 && new DataView(datagram.buffer, datagram.byteOffset).getUint32(12, true) === 2;
    if (isTwo && copiesOfTwoDropped < 4) copiesOfTwoDropped++;
    else receiver.input(datagram.slice());
  }, options);
  for (let i = 0; i < 12; i++) sender.send(bytes(1000, i + 1));
  for (let now = 0; now < 3000; now += 10) {
    sender.update(now);
    receiver.update(now);
  }
  assert.equal(drainMessages(receiver).length, 12);
  assert.equal(copiesOfTwoDropped, 4);
  assert.ok(sender.stats.timeoutRetransmits + sender.stats.fastRetransmits >= 4, `resends ${sender.stats.timeoutRetransmits} + ${sender.stats.fastRetransmits}`);
  assert.equal(sender.stats.segmentsRepaired, 1);
});

test('padding is header-only window tells with the sender\'s una: the peer accepts it, and no data, ack or state changes with it', () => {
  const link = new VirtualLink(CLEAN_PATH, seededRandom(3), { both: { nodelay: 1, interval: 10, nc: true } });
  link.a.send(new Uint8Array([1, 2, 3]));
  link.advance(300);
  assert.deepEqual(drainMessages(link.b).map((m) => [...m]), [[1, 2, 3]]);
  const padding = new Uint8Array(1200);
  const size = link.b.writePadding(padding);
  assert.equal(size, 50 * KCP_OVERHEAD, 'as many whole segments as fit');
  const datagram = padding.subarray(0, size);
  assert.ok(commandsIn(datagram).every((cmd) => cmd === KcpCommand.WindowTell));
  assert.equal(decodeHeader(datagram, 0).una, link.b.receiveNext);
  const before = { una: link.a.sendUna, waiting: link.a.waitsnd(), inflight: link.a.inflightBytes };
  assert.ok(link.a.input(datagram, link.now) >= 0, 'accepted');
  assert.deepEqual({ una: link.a.sendUna, waiting: link.a.waitsnd(), inflight: link.a.inflightBytes }, before);
  assert.equal(link.a.peeksize(), -1, 'no data');
});
