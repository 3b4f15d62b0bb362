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
import { silentLogger } from '../../services/media/src/logger.js';
import { emfLine, readEcsTaskIdentity } from '../../services/media/src/metrics/emf.js';
import { nextProtectionAction } from '../../services/media/src/scaling/protection-policy.js';
import { startTaskProtection } from '../../services/media/src/scaling/task-protection.js';
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

  it('against an agent-like endpoint: protects while publishers are live, retries a failure, releases when idle', async () => {
    const requests: { method: string; path: string; body: Record<string, unknown> }[] = [];
    let failNext = 1;
    const agent = await localServer((req, body, res) => {
      requests.push({ method: req.method!, path: req.url!, body: JSON.parse(body) as Record<string, unknown> });
      if (failNext-- > 0) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"failure":{"Code":"ServerException","Reason":"busy"}}');
        return;
      }
      const enabled = (JSON.parse(body) as { ProtectionEnabled: boolean }).ProtectionEnabled;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        protection: { ProtectionEnabled: enabled, ExpirationDate: '2026-11-25T12:00:00Z', TaskArn: 'arn:aws:ecs:ap-northeast-2:1:task/bc/abc' },
      }));
    });
    let busy = false;
    const protection = startTaskProtection({ agentUri: agent.url, hasPublishers: () => busy, logger: silentLogger, checkIntervalMs: 20, idleGraceMs: 200 });
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(requests.length, 0, 'no request while idle and unprotected');
      busy = true;
      await waitFor(() => requests.length >= 2, 2000, 'the protect request and its retry');
      assert.deepEqual(requests.slice(0, 2).map((r) => r.body), [
        { ProtectionEnabled: true, ExpiresInMinutes: 60 }, { ProtectionEnabled: true, ExpiresInMinutes: 60 },
      ]);
      assert.equal(requests[0]!.method, 'PUT');
      assert.equal(requests[0]!.path, '/task-protection/v1/state');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(requests.length, 2, 'no renewal long before half the expiry');
      busy = false;
      const idleSince = Date.now();
      await waitFor(() => requests.length >= 3, 2000, 'the release request');
      assert.ok(Date.now() - idleSince >= 200, 'released only after the idle grace');
      assert.deepEqual(requests[2]!.body, { ProtectionEnabled: false });
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
      assert.deepEqual(await readEcsTaskIdentity(metadata.url), { serviceName: 'bridgecast-media', taskId: '0f9e8d7c6b5a' });
    } finally {
      await metadata.close();
    }
  });
});
