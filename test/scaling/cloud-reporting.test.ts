/**
 * The task's side of autoscaling: scale-in protection through a local HTTP
 * server that behaves like the ECS agent's task-protection endpoint
 * (including failed requests), the pure protection policy, the EMF lines
 * CloudWatch extracts metrics from, and the task identity from a local
 * stand-in for the ECS task metadata endpoint.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { silentLogger } from '@bridgecast/media/logger.js';
import { emfLine, metricsServiceName, readEcsTaskIdentity, startEmfReporter } from '@bridgecast/media/metrics/emf.js';
import { nextProtectionAction } from '@bridgecast/media/scaling/protection-policy.js';
import { startTaskProtection } from '@bridgecast/media/scaling/task-protection.js';
import { waitFor } from '../helpers/media-server.js';

async function localServer(handle: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handle(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('task scale-in protection', () => {
  const policy = { expiresInMinutes: 60, idleGraceMs: 30_000 };
  const T = 1_800_000_000_000;

  it('policy: protect when busy, renew at half-life, release only after the idle grace', () => {
    assert.deepEqual(nextProtectionAction({ protectedUntil: undefined, lastBusyAt: T }, true, T, policy), { kind: 'protect', expiresInMinutes: 60 });
    assert.deepEqual(nextProtectionAction({ protectedUntil: T + 40 * 60_000, lastBusyAt: T }, true, T, policy), { kind: 'none' });
    assert.deepEqual(nextProtectionAction({ protectedUntil: T + 20 * 60_000, lastBusyAt: T }, true, T, policy), { kind: 'protect', expiresInMinutes: 60 });
    assert.deepEqual(nextProtectionAction({ protectedUntil: T + 50 * 60_000, lastBusyAt: T - 10_000 }, false, T, policy), { kind: 'none' }, 'a reconnect gap does not release');
    assert.deepEqual(nextProtectionAction({ protectedUntil: T + 50 * 60_000, lastBusyAt: T - 31_000 }, false, T, policy), { kind: 'release' });
    assert.deepEqual(nextProtectionAction({ protectedUntil: undefined, lastBusyAt: undefined }, false, T, policy), { kind: 'none' });
  });

  /**
   * A stand-in for the ECS agent: like the real one it answers HTTP 200 with
   * `{"failure": …}` or `{"error": …}` when the ECS API refuses (e.g. the task
   * role lacks ecs:UpdateTaskProtection), and keeps the protection state so a
   * GET reads it back (an operator may clear it "from outside").
   */
  async function fakeAgent() {
    const requests: { method: string; path: string; body: Record<string, unknown> | undefined }[] = [];
    const refusals: string[] = [];
    let enabled = false;
    const server = await localServer((req, body, res) => {
      const parsed = body ? (JSON.parse(body) as { ProtectionEnabled: boolean }) : undefined;
      requests.push({ method: req.method!, path: req.url!, body: parsed });
      const refusal = req.method === 'PUT' ? refusals.shift() : undefined;
      if (refusal === 'failure') {
        return void res.writeHead(200, { 'content-type': 'application/json' })
          .end('{"failure":{"Arn":"arn:aws:ecs:ap-northeast-2:1:task/bc/abc","Reason":"TASK_NOT_VALID","Detail":null},"requestID":"r1"}');
      }
      if (refusal === 'error') {
        return void res.writeHead(200, { 'content-type': 'application/json' })
          .end('{"error":{"Arn":"arn:aws:ecs:ap-northeast-2:1:task/bc/abc","Code":"AccessDeniedException","Message":"not authorized to perform ecs:UpdateTaskProtection"},"requestID":"r2"}');
      }
      if (parsed) enabled = parsed.ProtectionEnabled;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        protection: { ProtectionEnabled: enabled, ExpirationDate: enabled ? '2026-11-25T12:00:00Z' : null, TaskArn: 'arn:aws:ecs:ap-northeast-2:1:task/bc/abc' },
        requestID: 'r3',
      }));
    });
    return { ...server, requests, refusals, clearFromOutside: () => { enabled = false; }, isEnabled: () => enabled };
  }

  it('against an agent-like endpoint: a 200 with failure or error is retried, renewal at half-life, release when idle', async () => {
    const agent = await fakeAgent();
    agent.refusals.push('failure', 'error');
    let busy = false;
    let clock = T;
    const protection = startTaskProtection({
      agentUri: agent.url, hasPublishers: () => busy, logger: silentLogger, checkIntervalMs: 10, idleGraceMs: 30_000, now: () => clock,
    });
    try {
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(agent.requests.length, 0, 'no request while idle and unprotected');
      busy = true;
      await waitFor(() => agent.requests.length >= 3, 2000, 'the protect request, refused twice, then accepted');
      await new Promise((r) => setTimeout(r, 60));
      assert.deepEqual(agent.requests.map((r) => [r.method, r.body]), [
        ['PUT', { ProtectionEnabled: true, ExpiresInMinutes: 10 }],
        ['PUT', { ProtectionEnabled: true, ExpiresInMinutes: 10 }],
        ['PUT', { ProtectionEnabled: true, ExpiresInMinutes: 10 }],
      ], 'each refusal (HTTP 200 + failure/error) counts as failed and is retried; then no more requests');
      assert.equal(agent.requests[0]!.path, '/task-protection/v1/state');
      assert.equal(agent.isEnabled(), true);

      clock = T + 6 * 60_000; // past half of the 10-minute lifetime: read back, then renew
      await waitFor(() => agent.requests.length >= 5, 2000, 'the renewal');
      assert.deepEqual(agent.requests.slice(3).map((r) => [r.method, r.body]), [['GET', undefined], ['PUT', { ProtectionEnabled: true, ExpiresInMinutes: 10 }]]);

      busy = false;
      clock += 10_000;
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(agent.requests.length, 5, 'a reconnect gap shorter than the idle grace does not release');
      clock += 30_000;
      await waitFor(() => agent.requests.length >= 6, 2000, 'the release request');
      assert.deepEqual(agent.requests[5]!.body, { ProtectionEnabled: false });
      assert.equal(agent.isEnabled(), false);
    } finally {
      await protection.stop();
      await agent.close();
    }
  });

  it('an operator clearing protection (aws ecs update-task-protection --no-protection-enabled) is honoured until the task is idle', async () => {
    const agent = await fakeAgent();
    let busy = true;
    let clock = T;
    const protection = startTaskProtection({
      agentUri: agent.url, hasPublishers: () => busy, logger: silentLogger, checkIntervalMs: 10, idleGraceMs: 30_000, now: () => clock,
    });
    try {
      await waitFor(() => agent.isEnabled(), 2000, 'protected');
      agent.clearFromOutside();
      clock = T + 6 * 60_000;
      await waitFor(() => agent.requests.some((r) => r.method === 'GET'), 2000, 'the read-back before renewal');
      await new Promise((r) => setTimeout(r, 60));
      clock = T + 20 * 60_000;
      await new Promise((r) => setTimeout(r, 60));
      assert.deepEqual(agent.requests.map((r) => r.method), ['PUT', 'GET'], 'not re-protected while the broadcast goes on');
      assert.equal(agent.isEnabled(), false);
      // Idle for the grace period, then a new broadcast: protected again.
      busy = false;
      clock += 31_000;
      await new Promise((r) => setTimeout(r, 60));
      busy = true;
      await waitFor(() => agent.isEnabled(), 2000, 'protected again for the next broadcast');
    } finally {
      await protection.stop();
      await agent.close();
    }
  });
});

describe('CloudWatch embedded metric format', () => {
  it('one line with the namespace, both dimension sets, units and values', () => {
    const line = emfLine({ namespace: 'Bridgecast', serviceName: 'media', taskId: 'abc123' }, {
      publishers: 3, viewers: 120, ingestBitsPerSecond: 7.5e6, egressBitsPerSecond: 300e6, kcpRetransmitRatio: 0.12, kcpRttMs: 85,
    }, 1_800_000_000_000);
    assert.ok(!line.includes('\n'));
    const doc = JSON.parse(line) as Record<string, unknown> & { _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] } };
    assert.equal(doc._aws.Timestamp, 1_800_000_000_000);
    const [directive] = doc._aws.CloudWatchMetrics;
    assert.equal(directive!.Namespace, 'Bridgecast');
    assert.deepEqual(directive!.Dimensions, [['ServiceName'], ['ServiceName', 'TaskId']]);
    assert.deepEqual(Object.fromEntries(directive!.Metrics.map((m) => [m.Name, m.Unit])), {
      Publishers: 'Count', Viewers: 'Count', IngestBitsPerSecond: 'Bits/Second', EgressBitsPerSecond: 'Bits/Second',
      KcpRetransmitRatio: 'None', KcpRttMs: 'Milliseconds',
    });
    // Every metric and dimension named in the directive is a top-level member (EMF's rule).
    for (const { Name } of directive!.Metrics) assert.equal(typeof doc[Name], 'number', Name);
    assert.equal(doc.ServiceName, 'media');
    assert.equal(doc.TaskId, 'abc123');
    assert.equal(doc.Publishers, 3);
  });

  it('names the task from the ECS task metadata endpoint', async () => {
    const metadata = await localServer((req, _body, res) => {
      if (req.url !== '/task') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        Cluster: 'bc', TaskARN: 'arn:aws:ecs:ap-northeast-2:123456789012:task/bc/0f9e8d7c6b5a', Family: 'BridgecastMediaTask', ServiceName: 'bridgecast-media',
      }));
    });
    try {
      const identity = await readEcsTaskIdentity(metadata.url);
      assert.deepEqual(identity, { serviceName: 'bridgecast-media', family: 'BridgecastMediaTask', taskId: '0f9e8d7c6b5a' });
      assert.deepEqual(metricsServiceName('Bridgecast-media', identity), { name: 'Bridgecast-media', guessed: false }, 'METRICS_SERVICE_NAME wins');
      assert.deepEqual(metricsServiceName(undefined, identity), { name: 'bridgecast-media', guessed: false });
    } finally {
      await metadata.close();
    }
  });

  it('without ServiceName in the metadata the family is only a (flagged) guess: the deployment sets METRICS_SERVICE_NAME', async () => {
    const metadata = await localServer((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ TaskARN: 'arn:aws:ecs:ap-northeast-2:1:task/bc/abc', Family: 'BridgecastMediaTask' }));
    });
    try {
      const identity = await readEcsTaskIdentity(metadata.url);
      assert.equal(identity.serviceName, undefined);
      assert.deepEqual(metricsServiceName(undefined, identity), { name: 'BridgecastMediaTask', guessed: true });
      assert.deepEqual(metricsServiceName('Bridgecast-media', identity), { name: 'Bridgecast-media', guessed: false });
    } finally {
      await metadata.close();
    }
  });

  it('emits once per minute bucket, at a fixed offset into it, whatever the start time', async () => {
    // A 100 ms "minute" with the emission at 50 ms into it.
    const stamps: number[] = [];
    const reporter = startEmfReporter({
      identity: { namespace: 'Bridgecast', serviceName: 'media', taskId: 't' }, intervalMs: 100, offsetMs: 50,
      sample: () => ({ publishers: 1, viewers: 0, ingestBitsPerSecond: 0, egressBitsPerSecond: 0, kcpRetransmitRatio: 0, kcpRttMs: 0 }),
      write: (line) => stamps.push((JSON.parse(line) as { _aws: { Timestamp: number } })._aws.Timestamp),
    });
    await waitFor(() => stamps.length >= 4, 3000, 'four emissions');
    reporter.stop();
    const buckets = stamps.map((t) => Math.floor(t / 100));
    assert.equal(new Set(buckets).size, buckets.length, `one point per bucket: ${stamps.map((t) => t % 100)}`);
    for (const t of stamps) assert.ok(t % 100 >= 50, `emitted in the second half of its bucket (${t % 100} ms in)`);
  });

  it('writes the extra documents (the edge links) after the task\'s own, stamped with the same time', async () => {
    const lines: { Timestamp: number; kind: string }[] = [];
    const reporter = startEmfReporter({
      identity: { namespace: 'Bridgecast', serviceName: 'media', taskId: 't' }, intervalMs: 100, offsetMs: 50,
      sample: () => ({ publishers: 1, viewers: 0, ingestBitsPerSecond: 0, egressBitsPerSecond: 0, kcpRetransmitRatio: 0, kcpRttMs: 0 }),
      extraLines: (timestamp) => [JSON.stringify({ _aws: { Timestamp: timestamp }, Edge: 'ap-east-1' }), JSON.stringify({ _aws: { Timestamp: timestamp }, Edge: 'cn-northwest-1' })],
      write: (line) => {
        const doc = JSON.parse(line) as { _aws: { Timestamp: number }; Edge?: string };
        lines.push({ Timestamp: doc._aws.Timestamp, kind: doc.Edge ?? 'task' });
      },
    });
    await waitFor(() => lines.length >= 6, 3000, 'two emissions');
    reporter.stop();
    assert.deepEqual(lines.slice(0, 6).map((l) => l.kind), ['task', 'ap-east-1', 'cn-northwest-1', 'task', 'ap-east-1', 'cn-northwest-1']);
    assert.equal(new Set(lines.slice(0, 3).map((l) => l.Timestamp)).size, 1);
  });
});
