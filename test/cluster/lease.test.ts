import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { claimRetryAt, decideClaim, isSameLease, leaseExpiry, LIVE_LEASE_FACTOR, LIVE_LEASE_RENEW_MS, type LiveLease } from '@bridgecast/media/cluster/lease.js';
import { DynamoLeaseStore, MemoryLeaseStore, type LeaseStore } from '@bridgecast/media/cluster/lease-store.js';
import { LiveRegistry } from '@bridgecast/media/cluster/live-registry.js';
import { startLocalDynamo, type LocalDynamo } from '@bridgecast/media/auth/local-dynamo.js';
import { StreamHub } from '@bridgecast/media/hub/stream-hub.js';
import { createLogger } from '@bridgecast/media/logger.js';

const T0 = 1_800_000_000_000;
const TAKEOVER = 5000;

function lease(over: Partial<LiveLease> = {}): LiveLease {
  return {
    owner: 'task-a', address: '10.0.1.5', rtmpPort: 1935, kcpPort: 1936, httpPort: 8080,
    app: 'live', name: 'st_x', broadcastId: 'b1', expiresAt: T0 + 6000, lastMediaAt: T0, version: 1, ...over,
  };
}

describe('lease decisions', () => {
  it('a free stream is taken', () => {
    assert.deepEqual(decideClaim(undefined, 'task-b', T0, TAKEOVER), { take: true, replaces: 'nobody' });
  });
  it('a live publisher on another task keeps its stream', () => {
    const d = decideClaim(lease({ lastMediaAt: T0 - 1000 }), 'task-b', T0, TAKEOVER);
    assert.equal(d.take, false);
    assert.match((d as { reason: string }).reason, /already being published \(on task task-a\)/);
  });
  it('an expired lease (dead task) is taken', () => {
    assert.deepEqual(decideClaim(lease({ expiresAt: T0 }), 'task-b', T0, TAKEOVER), { take: true, replaces: 'expired' });
  });
  it('a publisher silent for the takeover time is replaced from another task, as on one task', () => {
    assert.deepEqual(decideClaim(lease({ lastMediaAt: T0 - TAKEOVER }), 'task-b', T0, TAKEOVER), { take: true, replaces: 'silent' });
    assert.equal(decideClaim(lease({ lastMediaAt: T0 - TAKEOVER + 1 }), 'task-b', T0, TAKEOVER).take, false);
  });
  it('a claim refused by a holder that stopped reporting media waits for the takeover instead of refusing', () => {
    assert.equal(claimRetryAt(lease({ lastMediaAt: T0 - 1500 }), T0, TAKEOVER), undefined, 'media 1.5 s old: a live holder, refuse');
    assert.equal(claimRetryAt(lease({ lastMediaAt: T0 - 3500 }), T0, TAKEOVER), T0 + 1500, 'silent 3.5 s: takeable at 5 s');
    assert.equal(claimRetryAt(lease({ lastMediaAt: T0 - 3500, expiresAt: T0 + 500 }), T0, TAKEOVER), T0 + 500, 'or when it expires, if sooner');
  });
  it('the owner task may claim again (its hub applies the local rule)', () => {
    assert.deepEqual(decideClaim(lease(), 'task-a', T0, TAKEOVER), { take: true, replaces: 'own' });
  });
  it('renewals and releases touch only the exact lease', () => {
    assert.equal(isSameLease(lease(), 'task-a', 'b1'), true);
    assert.equal(isSameLease(lease(), 'task-a', 'b2'), false);
    assert.equal(isSameLease(lease({ owner: 'task-b' }), 'task-a', 'b1'), false);
    assert.equal(isSameLease(undefined, 'task-a', 'b1'), false);
  });
  it('a dead task loses its leases within renewal period × factor = 6 s', () => {
    assert.equal(LIVE_LEASE_RENEW_MS * LIVE_LEASE_FACTOR, 6000);
    assert.equal(leaseExpiry(T0), T0 + 6000);
  });
});

/** The same conditional-write contract for both stores; the DynamoDB one runs against dynalite. */
function storeContract(name: string, open: () => Promise<LeaseStore>) {
  describe(`${name}: conditional writes`, () => {
    it('put over the version read; a concurrent taker loses', async () => {
      const store = await open();
      assert.equal(await store.put(lease({ name: 'race' }), undefined), true);
      assert.equal(await store.put(lease({ name: 'race', owner: 'task-b', version: 1 }), undefined), false, 'not over an existing lease without reading it');
      const read = await store.get('live', 'race');
      assert.equal(read?.version, 1);
      assert.equal(await store.put(lease({ name: 'race', owner: 'task-b', broadcastId: 'b2', version: 2 }), 1), true);
      assert.equal(await store.put(lease({ name: 'race', owner: 'task-c', broadcastId: 'b3', version: 2 }), 1), false, 'the second taker read version 1 too');
      assert.equal((await store.get('live', 'race'))?.owner, 'task-b');
    });
    it('renew and release only by the holder of the same broadcast', async () => {
      const store = await open();
      const mine = lease({ name: 'renew' });
      await store.put(mine, undefined);
      assert.equal(await store.renew(mine, T0 + 9000, T0 + 3000, 1_700_000_000_123.4), true);
      const renewed = await store.get('live', 'renew');
      assert.deepEqual([renewed?.expiresAt, renewed?.lastMediaAt, Math.round(renewed?.clockOffsetMs ?? 0)], [T0 + 9000, T0 + 3000, 1_700_000_000_123], 'the media clock offset travels with the renewal');
      const theirs = lease({ name: 'renew', owner: 'task-b', broadcastId: 'b2', version: 2 });
      await store.put(theirs, 1);
      assert.equal(await store.renew(mine, T0 + 12_000, T0 + 6000, undefined), false, 'taken over: the renewal fails');
      await store.release(mine);
      assert.equal((await store.get('live', 'renew'))?.owner, 'task-b', 'a replaced publish cannot release its successor');
      await store.release(theirs);
      assert.equal(await store.get('live', 'renew'), undefined);
    });
    it('lists the leases', async () => {
      const store = await open();
      await store.put(lease({ name: 'listed' }), undefined);
      assert.ok((await store.list()).some((l) => l.name === 'listed' && l.owner === 'task-a' && l.rtmpPort === 1935));
    });
  });
}

const memory = new MemoryLeaseStore();
storeContract('memory', async () => memory);
let dynamo: LocalDynamo;
before(async () => { dynamo = await startLocalDynamo(); });
after(async () => { await dynamo.close(); });
storeContract('DynamoDB (dynalite)', async () => new DynamoLeaseStore(dynamo.client, dynamo.tableName));

describe('registry: two tasks, one stream', () => {
  it('a second task is refused while the first publishes, takes over once the first is silent, and the first then loses its publisher', async () => {
    const store = new MemoryLeaseStore();
    let now = T0;
    const logger = createLogger('silent');
    const hubA = new StreamHub();
    const hubB = new StreamHub();
    const self = (owner: string) => () => ({ owner, address: '127.0.0.1', rtmpPort: 1, kcpPort: undefined, httpPort: 2 });
    const a = new LiveRegistry({ store, hub: hubA, self: self('a'), takeoverMs: TAKEOVER, logger, now: () => now, renewMs: 60_000 });
    const b = new LiveRegistry({ store, hub: hubB, self: self('b'), takeoverMs: TAKEOVER, logger, now: () => now, renewMs: 60_000 });
    assert.equal((await a.claim('live', 's')).ok, true);
    let disconnected = '';
    hubA.startPublish('live', 's', { protocol: 'rtmp', remoteAddress: 'x', disconnect: (r) => { disconnected = r; } });
    now += 1000;
    const refused = await b.claim('live', 's');
    assert.equal(refused.ok, false);
    assert.equal((await b.ownerElsewhere('live', 's'))?.owner, 'a', 'b pulls from a');
    assert.equal(await a.ownerElsewhere('live', 's'), undefined, 'a owns it');
    now += TAKEOVER;
    assert.equal((await b.claim('live', 's')).ok, true, 'a silent publisher may be replaced from another task');
    await (a as unknown as { renewAll(): Promise<void> }).renewAll();
    assert.match(disconnected, /another task took this stream over/);
    assert.equal(hubA.get('live', 's'), undefined);
    await a.close();
    await b.close();
  });
});

describe('hub: a cluster pull steps aside for the local publisher that took the lease', () => {
  it('keeps the pull\'s viewers on the new stream', () => {
    const hub = new StreamHub();
    let pullStopped = false;
    const pulled = hub.startPublish('live', 's', { protocol: 'relay', remoteAddress: 'a', disconnect: () => { pullStopped = true; }, clusterPull: true });
    assert.ok(pulled.ok);
    const ended: string[] = [];
    const viewer = { protocol: 'flv', send() {}, end: (r: string) => { ended.push(r); } };
    hub.subscribe('live', 's', viewer, false);
    const own = hub.startPublish('live', 's', { protocol: 'rtmp', remoteAddress: 'enc', disconnect() {} });
    assert.ok(own.ok);
    assert.equal(pullStopped, true);
    assert.deepEqual(ended, [], 'the viewer was not ended');
    assert.equal(own.stream.viewerCount, 1);
  });
});

describe('task address', () => {
  it('CLUSTER_ADDRESS wins; else the container metadata\'s Networks[0].IPv4Addresses[0]; else a clear error', async () => {
    const { resolveTaskAddress } = await import('@bridgecast/media/cluster/task-address.js');
    const metadata = (body: unknown, status = 200) => (async () => new Response(JSON.stringify(body), { status })) as unknown as typeof fetch;
    assert.equal(await resolveTaskAddress('10.9.9.9', 'http://md', metadata({})), '10.9.9.9');
    // The shape of the Fargate v4 container response (docs: task-metadata-endpoint-v4-fargate-response).
    assert.equal(await resolveTaskAddress(undefined, 'http://md', metadata({ Networks: [{ NetworkMode: 'awsvpc', IPv4Addresses: ['10.0.2.106'] }] })), '10.0.2.106');
    await assert.rejects(resolveTaskAddress(undefined, 'http://md', metadata({ Networks: [] })), /names no IPv4 address/);
    await assert.rejects(resolveTaskAddress(undefined, 'http://md', metadata({}, 500)), /HTTP 500/);
    await assert.rejects(resolveTaskAddress(undefined, undefined), /CLUSTER_ADDRESS or the ECS metadata endpoint/);
  });
});

describe('hub: pulls from other tasks are not publishers here', () => {
  it('publishedHere leaves cluster pulls out (publisher limit, drain, live list)', () => {
    const hub = new StreamHub();
    hub.startPublish('live', 'pulled', { protocol: 'relay', remoteAddress: 'a', disconnect() {}, clusterPull: true });
    hub.startPublish('live', 'own', { protocol: 'rtmp', remoteAddress: 'enc', disconnect() {} });
    assert.deepEqual(hub.publishedHere().map((s) => s.name), ['own']);
    assert.equal(hub.list().length, 2);
  });
});
