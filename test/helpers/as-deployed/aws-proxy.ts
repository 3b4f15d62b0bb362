/**
 * The AWS endpoint every process of the as-deployed harness talks to
 * (AWS_ENDPOINT_URL). It plays IAM: each role of the template gets its own
 * access key id, every request is mapped to the IAM action, resource ARN and
 * condition keys AWS would evaluate, and the role's synthesized policy
 * decides. Allowed requests go to the local stand-ins (dynalite for DynamoDB,
 * s3rver for S3, in-process handlers for ECS and CloudWatch); refused ones
 * get AWS's own answer: DynamoDB 400 AccessDeniedException (JSON), S3 403
 * AccessDenied (XML), ECS/CloudWatch 400 AccessDeniedException. A missing
 * S3 key reads as 404 NoSuchKey only to a role that may list the bucket,
 * else 403 AccessDenied, as S3 does. SigV4 signatures are not verified (the
 * key id names the role); everything else about the request is.
 * Every decision is recorded, so a test can assert that nothing was refused.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAllowed, type AuthorizationRequest } from './iam-policy.js';
import type { PolicyStatement } from './template.js';

export interface Decision extends AuthorizationRequest { role: string; allowed: boolean; service: string; operation: string }

/** A JSON-protocol service answered in process (no local server exists for it). */
export type JsonHandler = (operation: string, body: Record<string, unknown>) => Promise<{ status?: number; body: unknown }>;

export interface TableSchema { name: string; partitionKey: string; indexes: Record<string, string> }

export interface ProxyOptions {
  account: string;
  region: string;
  dynamodbUrl: string;
  s3Url: string;
  tables: TableSchema[];
  /** ECS: "which ECS calls need which resource" — maps the request to resource ARNs. */
  ecs: JsonHandler;
  cloudwatch: JsonHandler;
}

interface Role { name: string; statements: PolicyStatement[] }

export class AwsPolicyProxy {
  readonly decisions: Decision[] = [];
  /** Requests the proxy could not map to IAM: always a test failure. */
  readonly unmapped: string[] = [];
  private readonly roles = new Map<string, Role>();
  private server!: http.Server;
  url = '';

  constructor(private readonly o: ProxyOptions) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => { void this.handle(req, res); });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Credentials identifying `name` (a role of the template) to this proxy. */
  credentialsFor(name: string, statements: PolicyStatement[]): { accessKeyId: string; secretAccessKey: string } {
    const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    this.roles.set(accessKeyId, { name, statements });
    return { accessKeyId, secretAccessKey: randomBytes(20).toString('hex') };
  }

  denials(): Decision[] {
    return this.decisions.filter((d) => !d.allowed);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const auth = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(req.headers.authorization ?? '');
    const role = auth && this.roles.get(auth[1]!);
    const service = auth?.[3] ?? 'unknown';
    try {
      if (!role) {
        this.unmapped.push(`${req.method} ${req.url}: unknown credentials`);
        return send(res, 403, 'application/json', JSON.stringify({ __type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' }));
      }
      if (service === 's3') return await this.s3(role, req, body, res);
      if (service === 'dynamodb') return await this.dynamodb(role, req, body, res);
      if (service === 'ecs') return await this.jsonService(role, 'ecs', req, body, res, this.o.ecs, (op, b) => ecsResources(op, b, this.o));
      if (service === 'monitoring') return await this.jsonService(role, 'cloudwatch', req, body, res, this.o.cloudwatch, () => ['*']);
      throw new Error(`service ${service} is not modelled`);
    } catch (err) {
      this.unmapped.push(`${service} ${req.method} ${req.url}: ${(err as Error).message}`);
      send(res, 500, 'application/json', JSON.stringify({ __type: 'InternalFailure', message: (err as Error).message }));
    }
  }

  private decide(role: Role, service: string, operation: string, request: AuthorizationRequest): boolean {
    const allowed = isAllowed(role.statements, request);
    this.decisions.push({ ...request, role: role.name, allowed, service, operation });
    return allowed;
  }

  private notAuthorized(role: Role, action: string, resource: string): string {
    return `User: arn:aws:sts::${this.o.account}:assumed-role/${role.name}/session is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;
  }

  private async dynamodb(role: Role, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    const input = JSON.parse(body.toString() || '{}') as Record<string, unknown>;
    const tableName = input.TableName as string | undefined;
    const table = this.o.tables.find((t) => t.name === tableName);
    if (!table) throw new Error(`DynamoDB ${operation} on an unknown table ${tableName}`);
    const indexName = input.IndexName as string | undefined;
    const tableArn = `arn:aws:dynamodb:${this.o.region}:${this.o.account}:table/${table.name}`;
    const resource = indexName ? `${tableArn}/index/${indexName}` : tableArn;
    const action = `dynamodb:${operation}`;
    const leading = leadingKeys(operation, input, indexName ? table.indexes[indexName]! : table.partitionKey);
    if (!this.decide(role, 'dynamodb', operation, { action, resource, context: leading ? { 'dynamodb:LeadingKeys': leading } : {} })) {
      return send(res, 400, 'application/x-amz-json-1.0', JSON.stringify({
        __type: 'com.amazon.coral.service#AccessDeniedException', Message: this.notAuthorized(role, action, resource),
      }));
    }
    await forward(this.o.dynamodbUrl, req, body, res, undefined, true);
  }

  private async s3(role: Role, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const [, bucket, ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const q = url.searchParams;
    const bucketArn = `arn:aws:s3:::${bucket}`;
    const objectArn = `${bucketArn}/${key}`;
    let checks: AuthorizationRequest[];
    const method = req.method ?? 'GET';
    if (!key) {
      if (method === 'GET' && [...q.keys()].every((k) => ['list-type', 'prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'encoding-type'].includes(k))) {
        checks = [{ action: 's3:ListBucket', resource: bucketArn, context: q.has('prefix') ? { 's3:prefix': [q.get('prefix')!] } : {} }];
      } else throw new Error(`S3 ${method} ${req.url} (bucket operation) is not modelled`);
    } else if (method === 'GET' || method === 'HEAD') {
      checks = [{ action: 's3:GetObject', resource: objectArn, context: {} }];
    } else if (method === 'PUT' || (method === 'POST' && (q.has('uploads') || q.has('uploadId')))) {
      if (req.headers['x-amz-copy-source']) throw new Error('S3 copy is not modelled');
      checks = [{ action: 's3:PutObject', resource: objectArn, context: {} }];
    } else if (method === 'DELETE') {
      checks = [{ action: q.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject', resource: objectArn, context: {} }];
    } else throw new Error(`S3 ${method} ${req.url} is not modelled`);
    for (const check of checks) {
      if (!this.decide(role, 's3', `${method} ${key ? 'object' : 'bucket'}`, check)) return s3AccessDenied(res, method);
    }
    const answer = await forward(this.o.s3Url, req, body, res, (status) => status === 404 && (method === 'GET' || method === 'HEAD') && !!key);
    if (answer?.status === 404) {
      // S3 tells a missing key from a forbidden one only to callers that may list the bucket.
      // The GetObject request carries no s3:prefix, so a prefix-conditioned ListBucket does not count.
      if (!isAllowed(role.statements, { action: 's3:ListBucket', resource: bucketArn, context: {} })) return s3AccessDenied(res, method);
      res.writeHead(404, answer.headers);
      res.end(answer.body);
    }
  }

  private async jsonService(
    role: Role, service: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse,
    handler: JsonHandler, resources: (operation: string, body: Record<string, unknown>) => string[],
  ): Promise<void> {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    const input = JSON.parse(body.toString() || '{}') as Record<string, unknown>;
    const action = `${service}:${operation}`;
    for (const resource of resources(operation, input)) {
      if (!this.decide(role, service, operation, { action, resource, context: {} })) {
        return send(res, 400, 'application/x-amz-json-1.1', JSON.stringify({ __type: 'AccessDeniedException', message: this.notAuthorized(role, action, resource) }));
      }
    }
    const answer = await handler(operation, input);
    send(res, answer.status ?? 200, service === 'cloudwatch' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1', JSON.stringify(answer.body));
  }
}

/** dynamodb:LeadingKeys of a request: the partition key values it touches; undefined for a Scan (no key). */
function leadingKeys(operation: string, input: Record<string, unknown>, partitionKey: string): string[] | undefined {
  const value = (attr: unknown) => {
    const v = attr as { S?: string; N?: string; B?: string } | undefined;
    const out = v?.S ?? v?.N ?? v?.B;
    if (out === undefined) throw new Error(`${operation}: no partition key ${partitionKey}`);
    return out;
  };
  switch (operation) {
    case 'GetItem': case 'DeleteItem': case 'UpdateItem':
      return [value((input.Key as Record<string, unknown>)[partitionKey])];
    case 'PutItem':
      return [value((input.Item as Record<string, unknown>)[partitionKey])];
    case 'Query': {
      const names = (input.ExpressionAttributeNames ?? {}) as Record<string, string>;
      const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
      for (const clause of String(input.KeyConditionExpression ?? '').split(/\s+AND\s+/i)) {
        const m = /^\s*\(?\s*([#\w]+)\s*=\s*(:\w+)\s*\)?\s*$/.exec(clause);
        if (m && (names[m[1]!] ?? m[1]) === partitionKey) return [value(values[m[2]!])];
      }
      throw new Error(`Query without an equality on ${partitionKey}`);
    }
    case 'Scan': case 'DescribeTable':
      return undefined;
    default:
      throw new Error(`DynamoDB ${operation} is not modelled`);
  }
}

function ecsResources(operation: string, body: Record<string, unknown>, o: ProxyOptions): string[] {
  const cluster = String(body.cluster ?? 'default').split('/').pop()!;
  const arn = (kind: string, id: string) => (id.startsWith('arn:') ? id : `arn:aws:ecs:${o.region}:${o.account}:${kind}/${cluster}/${id}`);
  switch (operation) {
    case 'DescribeServices': return (body.services as string[]).map((s) => arn('service', s));
    case 'UpdateService': return [arn('service', String(body.service))];
    case 'UpdateTaskProtection': case 'GetTaskProtection': return ((body.tasks as string[] | undefined) ?? []).map((t) => arn('task', t));
    default: throw new Error(`ECS ${operation} is not modelled`);
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': randomBytes(8).toString('hex') });
  res.end(body);
}

function s3AccessDenied(res: http.ServerResponse, method: string): void {
  const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>harness</RequestId></Error>';
  res.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': 'harness', ...(method === 'HEAD' ? {} : { 'content-length': Buffer.byteLength(xml) }) });
  res.end(method === 'HEAD' ? undefined : xml);
}

/**
 * Sends the request on to a backend. S3 gets it without its signature
 * (s3rver would check it against its own keys; authorization happened
 * here); dynalite needs the header present and does not check it.
 * When `hold` says so for the backend's status, the answer is returned to
 * the caller instead of being sent.
 */
async function forward(
  base: string, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, hold?: (status: number) => boolean, keepAuthorization = false,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer } | undefined> {
  const target = new URL(req.url ?? '/', base);
  const headers = { ...req.headers, host: target.host };
  if (!keepAuthorization) delete headers.authorization;
  return new Promise((resolve, reject) => {
    const out = http.request(target, { method: req.method, headers }, (answer) => {
      if (hold?.(answer.statusCode ?? 0)) {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => resolve({ status: answer.statusCode!, headers: answer.headers, body: Buffer.concat(chunks) }));
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('end', () => resolve(undefined));
    });
    out.on('error', reject);
    out.end(body);
  });
}
