/**
 * The edge's decisions and figures apart from any I/O: configuration
 * refusals, which streams to pull, link health, the period figures, the hop
 * delay, the listing signature, what an edge may report.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '@bridgecast/media/config.js';
import { planEdgePulls } from '@bridgecast/media/edge/edge-plan.js';
import { combinedHealth, currentHealth, edgeSideHealth, LINK_STALE_MS, originSideHealth, stalledFor } from '@bridgecast/media/edge/link-health.js';
import { parseReportedRecord, type EdgeLinkRecord } from '@bridgecast/media/edge/link-record.js';
import { hopDelay, periodFigures } from '@bridgecast/media/edge/link-sample.js';
import { MediaClock } from '@bridgecast/media/hub/media-clock.js';
import { edgeLinkEmfLine } from '@bridgecast/media/metrics/emf.js';
import { relayListAuthorization, signRelayToken, verifyRelayListAuthorization } from '@bridgecast/media/relay/relay-token.js';

const SECRET = 's3cr3t-value-that-must-not-show';
const base = { RELAY_SECRET: SECRET, SERVER_ID: 'edge-task-1' };

describe('edge settings', () => {
  it('EDGE_ORIGIN alone makes an edge: every stream, the origin\'s HTTP on 8080, named after SERVER_ID, FEC from KCP_FEC', () => {
    const edge = loadConfig({ ...base, EDGE_ORIGIN: 'kcp://origin.example.com:1936', KCP_FEC: '10,3' }).edge!;
    assert.equal(edge.origin.href, 'kcp://origin.example.com:1936?fec=10%3A3');
    assert.equal(edge.originApi.href, 'http://origin.example.com:8080/');
    assert.equal(edge.mode, 'all');
    assert.equal(edge.name, 'edge-task-1');
    assert.equal(loadConfig(base).edge, undefined, 'no EDGE_ORIGIN: an origin');
    const named = loadConfig({ ...base, EDGE_ORIGIN: 'rtmp://10.0.0.1:1935', EDGE_ORIGIN_API: 'https://api.origin.example.com', EDGE_MODE: 'on-demand', EDGE_NAME: 'cn-northwest-1' }).edge!;
    assert.deepEqual([named.origin.href, named.originApi.href, named.mode, named.name], ['rtmp://10.0.0.1:1935', 'https://api.origin.example.com/', 'on-demand', 'cn-northwest-1']);
  });

  it('refuses what it cannot use with one line naming the variable and the value, never the secret', () => {
    const refusals: [Record<string, string>, RegExp][] = [
      [{ EDGE_ORIGIN: 'http://origin:8080' }, /^EDGE_ORIGIN="http:\/\/origin:8080" is not valid: kcp:\/\/<origin host>:<udp port> \(or rtmp:\/\/<host>:<port>\)$/],
      [{ EDGE_ORIGIN: 'kcp://origin' }, /^EDGE_ORIGIN="kcp:\/\/origin" is not valid/],
      [{ EDGE_ORIGIN: 'kcp://origin:1936', EDGE_MODE: 'sometimes' }, /^EDGE_MODE="sometimes" is not valid: one of all, on-demand$/],
      [{ EDGE_ORIGIN: 'kcp://origin:1936', EDGE_NAME: 'ap east 1' }, /^EDGE_NAME="ap east 1" is not valid/],
      [{ EDGE_ORIGIN: 'kcp://origin:1936', EDGE_ORIGIN_API: 'ftp://origin' }, /^EDGE_ORIGIN_API="ftp:\/\/origin" is not valid: an http:\/\/ or https:\/\/ URL$/],
      [{ EDGE_ORIGIN: 'kcp://origin:1936', RELAY_ORIGIN: 'kcp://other:1935' }, /^RELAY_ORIGIN="kcp:\/\/other:1935" is not valid: not together with EDGE_ORIGIN/],
      [{ EDGE_MODE: 'all' }, /^EDGE_MODE="all" is not valid: only used together with EDGE_ORIGIN/],
    ];
    for (const [env, message] of refusals) {
      assert.throws(() => loadConfig({ ...base, ...env }), (err: Error) => {
        assert.match(err.message, message);
        assert.ok(!err.message.includes(SECRET));
        return true;
      });
    }
    assert.throws(() => loadConfig({ EDGE_ORIGIN: 'kcp://origin:1936' }), (err: Error) => /^RELAY_SECRET="" is not valid: required with EDGE_ORIGIN/.test(err.message));
  });
});

describe('which streams an edge task pulls', () => {
  const input = { listed: new Set(['live/a', 'live/b']), pulling: new Set(['live/b', 'live/gone']), missingSince: new Map<string, number>(), now: 100_000, graceMs: 15_000 };
  it('all: every listed stream not pulled yet is a candidate (the lease decides); on-demand: none', () => {
    assert.deepEqual(planEdgePulls({ ...input, mode: 'all' }).candidates, ['live/a']);
    assert.deepEqual(planEdgePulls({ ...input, mode: 'on-demand' }).candidates, []);
  });
  it('a pulled stream missing from the listing is stopped only after the grace (the origin\'s own failover)', () => {
    const first = planEdgePulls({ ...input, mode: 'all' });
    assert.deepEqual(first.stop, []);
    assert.deepEqual([...first.missingSince], [['live/gone', 100_000]]);
    assert.deepEqual(planEdgePulls({ ...input, mode: 'all', missingSince: first.missingSince, now: 114_999 }).stop, []);
    assert.deepEqual(planEdgePulls({ ...input, mode: 'all', missingSince: first.missingSince, now: 115_000 }).stop, ['live/gone']);
    const back = planEdgePulls({ ...input, listed: new Set(['live/gone', 'live/b']), mode: 'all', missingSince: first.missingSince, now: 200_000 });
    assert.deepEqual([back.stop, [...back.missingSince]], [[], []], 'listed again: forgotten');
  });
});

describe('link health', () => {
  it('edge side: down unless connected and flowing; behind past a second of delay, or a second short of the origin\'s last media', () => {
    const flowing = { connected: true, flowing: true, mediaDelayMaxMs: 400, stalledMs: 0 };
    assert.equal(edgeSideHealth({ ...flowing, connected: false, flowing: false }), 'down');
    assert.equal(edgeSideHealth({ ...flowing, flowing: false }), 'down');
    assert.equal(edgeSideHealth(flowing), 'up');
    assert.equal(edgeSideHealth({ ...flowing, mediaDelayMaxMs: 1001 }), 'behind');
    assert.equal(edgeSideHealth({ ...flowing, stalledMs: 1001 }), 'behind', 'a stalled link measures no delay, but the origin has moved on');
    assert.equal(edgeSideHealth({ ...flowing, mediaDelayMaxMs: null, stalledMs: null }), 'up', 'nothing known yet');
    assert.equal(stalledFor(10_000, 8_500), 1500);
    assert.equal(stalledFor(10_000, 10_300), 0, 'the edge\'s last media after the origin\'s renewal');
    assert.equal(stalledFor(undefined, 1), null);
  });
  it('origin side: behind when more than a second of the stream waits for the edge', () => {
    assert.equal(originSideHealth({ queueBytes: 300_000, bitsPerSecond: 2_500_000 }), 'up');
    assert.equal(originSideHealth({ queueBytes: 320_000, bitsPerSecond: 2_500_000 }), 'behind');
    assert.equal(originSideHealth({ queueBytes: 10_000, bitsPerSecond: 0 }), 'up');
  });
  it('a stale record is down; a link is the worse of its fresh sides, down with none', () => {
    const now = 1_000_000;
    assert.equal(currentHealth({ state: 'up', updatedAt: now - LINK_STALE_MS - 1 }, now), 'down');
    assert.equal(currentHealth({ state: 'behind', updatedAt: now - 100 }, now), 'behind');
    assert.equal(combinedHealth([{ state: 'up', updatedAt: now }, { state: 'behind', updatedAt: now }], now), 'behind');
    assert.equal(combinedHealth([{ state: 'up', updatedAt: now }, { state: 'behind', updatedAt: now - LINK_STALE_MS - 1 }], now), 'up', 'the stale side does not count');
    assert.equal(combinedHealth([undefined, { state: 'up', updatedAt: now - LINK_STALE_MS - 1 }], now), 'down');
  });
});

describe('link figures', () => {
  it('retransmissions per first transmission (sender) and gaps filled per segment received (receiver), per period', () => {
    const at = (sent: number, resent: number, received: number, filled: number) => ({ segmentsSent: sent, retransmits: resent, segmentsReceived: received, segmentsFilledGap: filled, fecRecovered: null, srttMs: 50 });
    assert.deepEqual(periodFigures(undefined, at(1000, 50, 0, 0)), { retransmitRatio: 0.05, lossRatio: null });
    assert.deepEqual(periodFigures(at(1000, 50, 400, 4), at(1500, 60, 900, 29)), { retransmitRatio: 0.02, lossRatio: 0.05 });
  });
  it('hop delay: edge arrival offset minus the origin\'s, never negative, unknown until both are known', () => {
    assert.deepEqual(hopDelay(1000, { minOffsetMs: 1052.4, maxOffsetMs: 1180 }), { mediaDelayMs: 52, mediaDelayMaxMs: 180 });
    assert.deepEqual(hopDelay(1000, { minOffsetMs: 990, maxOffsetMs: 995 }), { mediaDelayMs: 0, mediaDelayMaxMs: 0 });
    assert.deepEqual(hopDelay(undefined, { minOffsetMs: 1, maxOffsetMs: 2 }), { mediaDelayMs: null, mediaDelayMaxMs: null });
  });
  it('the media clock keeps the least- and most-delayed arrival of the last one to two windows', () => {
    const clock = new MediaClock(2000);
    assert.equal(clock.minOffsetMs, undefined);
    clock.observe(0, 10_050); // 50 ms late against a base of 10 000
    clock.observe(1000, 11_000); // on time
    clock.observe(1500, 11_700); // 200 ms late
    assert.deepEqual([clock.minOffsetMs, clock.maxOffsetMs], [10_000, 10_200]);
    clock.observe(2500, 12_600); // a new window; the last one still counts
    assert.deepEqual([clock.minOffsetMs, clock.maxOffsetMs], [10_000, 10_200]);
    clock.observe(4600, 14_700); // another: the first window is gone
    assert.deepEqual([clock.minOffsetMs, clock.maxOffsetMs], [10_100, 10_100]);
    clock.observe(20_000, 30_000); // after a silence nothing old remains
    assert.deepEqual([clock.minOffsetMs, clock.maxOffsetMs], [10_000, 10_000]);
  });
});

describe('the listing signature', () => {
  it('verifies for the same secret and edge; refuses missing, malformed, forged and expired ones', () => {
    const now = 1_800_000_000;
    const header = relayListAuthorization(SECRET, 'ap-east-1', 60, now);
    assert.ok(!header.includes(SECRET));
    assert.deepEqual(verifyRelayListAuthorization(SECRET, header, now + 30), { ok: true, edge: 'ap-east-1' });
    assert.deepEqual(verifyRelayListAuthorization(SECRET, undefined, now), { ok: false, reason: 'missing' });
    assert.deepEqual(verifyRelayListAuthorization(SECRET, 'Bearer abc', now), { ok: false, reason: 'malformed' });
    assert.deepEqual(verifyRelayListAuthorization(SECRET, relayListAuthorization('another secret', 'ap-east-1', 60, now), now), { ok: false, reason: 'bad-signature' });
    assert.deepEqual(verifyRelayListAuthorization(SECRET, header.replace('ap-east-1', 'cn-north-1'), now), { ok: false, reason: 'bad-signature' }, 'the edge name is signed');
    assert.deepEqual(verifyRelayListAuthorization(SECRET, header, now + 61), { ok: false, reason: 'expired' });
  });
  it('is not a relay play token for the same values (its own domain string)', () => {
    const now = 1_800_000_000;
    const sig = relayListAuthorization(SECRET, 'ap-east-1', 60, now).split('.').pop();
    assert.notEqual(sig, signRelayToken(SECRET, { app: '', name: 'ap-east-1', expiresAt: now + 60, via: [] }));
  });
});

describe('what an edge may report', () => {
  const good = { app: 'live', name: 'st_x', task: 'edge-1', state: 'up', rttMs: 52, lossRatio: 0.05, retransmitRatio: null, fecRecovered: 3, mediaDelayMs: 60, mediaDelayMaxMs: 140, queueBytes: null, edge: 'someone-else', side: 'origin', updatedAt: 1 };
  it('stores its own side under its own (signed) name, stamped on arrival', () => {
    const record = parseReportedRecord(good, 'ap-east-1', 5000)!;
    assert.deepEqual([record.edge, record.side, record.updatedAt, record.lossRatio], ['ap-east-1', 'edge', 5000, 0.05]);
  });
  it('drops anything malformed', () => {
    for (const bad of [null, 'x', { ...good, state: 'great' }, { ...good, name: '../x' }, { ...good, rttMs: 'fast' }, { ...good, lossRatio: Infinity }, { ...good, task: 'a b' }]) {
      assert.equal(parseReportedRecord(bad, 'ap-east-1', 5000), undefined, JSON.stringify(bad));
    }
  });
});

it('a link becomes one EMF document with the figures its side has, dimensions Edge, Side (and Stream)', () => {
  const link: EdgeLinkRecord = { app: 'live', name: 'st_x', edge: 'ap-east-1', side: 'edge', task: 'edge-1', state: 'behind', rttMs: 60, lossRatio: 0.05, retransmitRatio: null, fecRecovered: 7, mediaDelayMs: 80, mediaDelayMaxMs: 1200, queueBytes: null, updatedAt: 0 };
  const doc = JSON.parse(edgeLinkEmfLine({ namespace: 'Bridgecast', serviceName: 'edge-media', taskId: 't1' }, link, 60_000));
  const directive = doc._aws.CloudWatchMetrics[0];
  assert.deepEqual(directive.Dimensions, [['ServiceName', 'Edge', 'Side'], ['ServiceName', 'Edge', 'Side', 'Stream']]);
  assert.deepEqual(directive.Metrics.map((m: { Name: string }) => m.Name), ['EdgeLinkRttMs', 'EdgeLinkLossRatio', 'EdgeLinkFecRecovered', 'EdgeLinkMediaDelayMs', 'EdgeLinkMediaDelayMaxMs', 'EdgeLinkDown', 'EdgeLinkBehind']);
  assert.deepEqual([doc.Edge, doc.Side, doc.Stream, doc.EdgeLinkLossRatio, doc.EdgeLinkBehind, doc.EdgeLinkDown], ['ap-east-1', 'edge', 'live/st_x', 0.05, 1, 0]);
  assert.equal(doc.EdgeLinkRetransmitRatio, undefined, 'no value for a figure this side does not measure');
});
