/**
 * Stand-ins for the AWS parts that have no local server: the ECS API (the
 * services' counts and task scale-in protection), the ECS container agent's
 * task-protection endpoint and the task metadata endpoint v4 inside each
 * task, and CloudWatch's GetMetricData over the embedded-metric-format
 * documents the tasks print. They keep only the state those calls touch and
 * answer in the APIs' documented shapes. Authorization is not theirs: the
 * API stand-ins sit behind the policy proxy, and the agent stand-in calls
 * ECS through it with the task role's credentials, as the real agent does.
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection-endpoint.html
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate.html
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ECSClient, UpdateTaskProtectionCommand, GetTaskProtectionCommand } from '@aws-sdk/client-ecs';
import type { JsonHandler } from './aws-proxy.js';

export interface ServiceState { arn: string; name: string; clusterArn: string; desiredCount: number; runningCount: number }

export class EcsApiStandIn {
  readonly services = new Map<string, ServiceState>();
  readonly protection = new Map<string, { enabled: boolean; expiresAt?: number }>();
  /** Every protection change, in order: [taskArn, enabled]. */
  readonly protectionHistory: [string, boolean][] = [];

  constructor(private readonly region: string, private readonly account: string) {}

  addService(cluster: string, name: string, desiredCount: number, runningCount: number): ServiceState {
    const clusterArn = `arn:aws:ecs:${this.region}:${this.account}:cluster/${cluster}`;
    const state = { arn: `arn:aws:ecs:${this.region}:${this.account}:service/${cluster}/${name}`, name, clusterArn, desiredCount, runningCount };
    this.services.set(state.arn, state);
    return state;
  }

  private find(cluster: unknown, service: unknown): ServiceState | undefined {
    const name = String(service);
    return [...this.services.values()].find((s) => s.arn === name || (s.name === name && s.clusterArn.endsWith(`/${String(cluster).split('/').pop()}`)));
  }

  readonly handle: JsonHandler = async (operation, body) => {
    const describe = (s: ServiceState) => ({
      serviceArn: s.arn, serviceName: s.name, clusterArn: s.clusterArn, status: 'ACTIVE', launchType: 'FARGATE',
      desiredCount: s.desiredCount, runningCount: s.runningCount, pendingCount: 0,
    });
    switch (operation) {
      case 'DescribeServices': {
        const found = (body.services as string[]).map((name) => this.find(body.cluster, name));
        return { body: { services: found.filter(Boolean).map((s) => describe(s!)), failures: found.flatMap((s, i) => (s ? [] : [{ arn: (body.services as string[])[i], reason: 'MISSING' }])) } };
      }
      case 'UpdateService': {
        const s = this.find(body.cluster, body.service);
        if (!s) return { status: 400, body: { __type: 'ServiceNotFoundException', message: 'Service not found.' } };
        if (typeof body.desiredCount === 'number') s.desiredCount = body.desiredCount;
        return { body: { service: describe(s) } };
      }
      case 'UpdateTaskProtection': case 'GetTaskProtection': {
        const tasks = (body.tasks as string[]).map((taskArn) => {
          if (operation === 'UpdateTaskProtection') {
            const enabled = body.protectionEnabled === true;
            const expiresAt = enabled ? Date.now() + Number(body.expiresInMinutes ?? 120) * 60_000 : undefined;
            this.protection.set(taskArn, { enabled, expiresAt });
            this.protectionHistory.push([taskArn, enabled]);
          }
          const p = this.protection.get(taskArn) ?? { enabled: false };
          return { taskArn, protectionEnabled: p.enabled, ...(p.expiresAt ? { expirationDate: p.expiresAt / 1000 } : {}) };
        });
        return { body: { protectedTasks: tasks, failures: [] } };
      }
      default: throw new Error(`ECS ${operation} is not modelled`);
    }
  };
}

/** What ECS gives every container of a task: the agent's task-protection endpoint and the metadata endpoint. */
export class TaskEndpointsStandIn {
  private server!: http.Server;
  agentUri = '';
  metadataUri = '';
  private readonly ecs: ECSClient;

  constructor(readonly task: { taskArn: string; clusterArn: string; family: string }, awsEndpoint: string, region: string,
    taskRoleCredentials: { accessKeyId: string; secretAccessKey: string }) {
    this.ecs = new ECSClient({ endpoint: awsEndpoint, region, credentials: taskRoleCredentials, maxAttempts: 1 });
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => { void this.handle(req, res); });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.agentUri = `${base}/api/agent`;
    this.metadataUri = `${base}/v4/container`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.ecs.destroy();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/v4/container' && req.method === 'GET') {
      // The container's own metadata: with awsvpc, the task ENI's private address (here loopback, where the harness runs tasks).
      return reply(200, { Name: 'media', Networks: [{ NetworkMode: 'awsvpc', IPv4Addresses: ['127.0.0.1'] }] });
    }
    if (req.url === '/v4/container/task' && req.method === 'GET') {
      // No ServiceName here on purpose: the agent reports it only on some platforms (METRICS_SERVICE_NAME is what counts).
      return reply(200, { Cluster: this.task.clusterArn, TaskARN: this.task.taskArn, Family: this.task.family, LaunchType: 'FARGATE', DesiredStatus: 'RUNNING', KnownStatus: 'RUNNING' });
    }
    if (req.url === '/api/agent/task-protection/v1/state') {
      const cluster = this.task.clusterArn;
      try {
        const out = req.method === 'PUT'
          ? await (async () => {
            const body = JSON.parse(Buffer.concat(chunks).toString()) as { ProtectionEnabled?: boolean; ExpiresInMinutes?: number };
            return this.ecs.send(new UpdateTaskProtectionCommand({ cluster, tasks: [this.task.taskArn], protectionEnabled: body.ProtectionEnabled === true, expiresInMinutes: body.ExpiresInMinutes }));
          })()
          : await this.ecs.send(new GetTaskProtectionCommand({ cluster, tasks: [this.task.taskArn] }));
        const t = out.protectedTasks?.[0];
        if (!t) return reply(200, { failure: { Arn: this.task.taskArn, Reason: out.failures?.[0]?.reason ?? 'MISSING', Detail: null } });
        return reply(200, { protection: { ProtectionEnabled: t.protectionEnabled, ExpirationDate: t.expirationDate?.toISOString() ?? null, TaskArn: t.taskArn } });
      } catch (err) {
        // The agent's answer when ECS refuses the call (e.g. the task role lacks the permission).
        const e = err as { name?: string; message?: string };
        return reply(200, { error: { Arn: this.task.taskArn, Code: e.name, Message: e.message } });
      }
    }
    reply(404, { error: 'not found' });
  }
}

/**
 * CloudWatch metrics from EMF documents (the path in AWS: the task's stdout
 * → CloudWatch Logs → metrics extracted per the _aws directive), and
 * GetMetricData over them with MetricStat queries, Period 60, Sum and
 * SampleCount: what the autoscaler asks.
 */
export class CloudWatchStandIn {
  private readonly points: { namespace: string; name: string; dimensions: Record<string, string>; value: number; at: number }[] = [];

  ingestEmf(line: string): void {
    const doc = JSON.parse(line) as Record<string, unknown> & { _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] } };
    for (const directive of doc._aws.CloudWatchMetrics) {
      for (const dimensionSet of directive.Dimensions) {
        const dimensions = Object.fromEntries(dimensionSet.map((d) => [d, String(doc[d])]));
        for (const m of directive.Metrics) this.points.push({ namespace: directive.Namespace, name: m.Name, dimensions, value: Number(doc[m.Name]), at: doc._aws.Timestamp });
      }
    }
  }

  readonly handle: JsonHandler = async (operation, body) => {
    if (operation !== 'GetMetricData') throw new Error(`CloudWatch ${operation} is not modelled`);
    const start = Number(body.StartTime) * 1000;
    const end = Number(body.EndTime) * 1000;
    const results = (body.MetricDataQueries as { Id: string; MetricStat: { Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] }; Period: number; Stat: string } }[]).map((q) => {
      const { Metric, Period, Stat } = q.MetricStat;
      const wanted = Object.fromEntries(Metric.Dimensions.map((d) => [d.Name, d.Value]));
      const buckets = new Map<number, number[]>();
      for (const p of this.points) {
        if (p.namespace !== Metric.Namespace || p.name !== Metric.MetricName || p.at < start || p.at >= end) continue;
        if (JSON.stringify(p.dimensions) !== JSON.stringify(wanted)) continue; // a metric is its exact dimension set
        const bucket = Math.floor(p.at / (Period * 1000)) * Period * 1000;
        buckets.set(bucket, [...(buckets.get(bucket) ?? []), p.value]);
      }
      const stamps = [...buckets.keys()].sort((a, b) => (body.ScanBy === 'TimestampAscending' ? a - b : b - a));
      const stat = (values: number[]) => {
        if (Stat === 'Sum') return values.reduce((a, b) => a + b, 0);
        if (Stat === 'SampleCount') return values.length;
        throw new Error(`statistic ${Stat} is not modelled`);
      };
      return { Id: q.Id, Label: Metric.MetricName, StatusCode: 'Complete', Timestamps: stamps.map((t) => t / 1000), Values: stamps.map((t) => stat(buckets.get(t)!)) };
    });
    return { body: { MetricDataResults: results, Messages: [] } };
  };
}
