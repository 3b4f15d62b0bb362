/**
 * The as-deployed harness: the synthesized stack, run here. The media
 * service runs as the image would run it (the Dockerfile's CMD, its ENV,
 * then the container's environment from the task definition), the Lambdas
 * from their synthesized bundles with their template environment, each
 * process with credentials of its own role; the only things replaced are
 * endpoints (AWS_ENDPOINT_URL → the policy proxy), credentials, listening
 * ports, the data directory, and what ECS injects (agent and metadata URIs).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { freePort } from '@bridgecast/test-support/free-port.js';
import { AwsPolicyProxy, type TableSchema } from './aws-proxy.js';
import { CloudWatchStandIn, EcsApiStandIn, TaskEndpointsStandIn } from './ecs-stand-ins.js';
import { sharedAssembly, REPO_ROOT, TEST_ACCOUNT, TEST_REGION, type CloudAssembly } from './synth.js';

/** Which synthesized stack to run: the origin of cdk.json's context by default. */
export interface StackToRun {
  assembly: CloudAssembly;
  /** Its stack name (the assembly's <name>.template.json and <name>.assets.json). */
  stackName: string;
  region: string;
}
import { resolveTemplate, roleStatements, type ResolvedTemplate } from './template.js';

/** The image's runtime stage as the Dockerfile writes it: ENV and CMD of the last stage. */
export function imageRuntime(dockerfile = path.join(REPO_ROOT, 'services/media/Dockerfile')): { env: Record<string, string>; cmd: string[] } {
  const lines = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ').split('\n');
  const lastFrom = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
  const env: Record<string, string> = {};
  let cmd: string[] | undefined;
  for (const line of lines.slice(lastFrom)) {
    const m = /^(ENV|CMD|ENTRYPOINT)\s+(.*)$/i.exec(line.trim());
    if (!m) continue;
    if (m[1]!.toUpperCase() === 'ENV') for (const pair of m[2]!.match(/\S+=\S+/g) ?? []) env[pair.split('=')[0]!] = pair.slice(pair.indexOf('=') + 1);
    else if (m[1]!.toUpperCase() === 'ENTRYPOINT') throw new Error('the harness does not model an ENTRYPOINT');
    else cmd = JSON.parse(m[2]!) as string[];
  }
  if (!cmd) throw new Error('no CMD in the runtime stage');
  return { env, cmd };
}

export interface RunningTask {
  taskArn: string;
  rtmpPort: number;
  kcpPort: number;
  httpPort: number;
  /** Everything the process printed (stdout and stderr), line by line. */
  output: string[];
  exitCode: number | null;
  /** The environment it runs with (for assertions). */
  env: Record<string, string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export class AsDeployedStack {
  readonly tasks: RunningTask[] = [];
  /** What each Lambda process printed (its CloudWatch log), by logical id. */
  readonly lambdaOutput = new Map<string, string[]>();
  private readonly lambdas = new Map<string, { child: ChildProcess; pending: Map<number, (v: { result?: unknown; error?: string }) => void> }>();
  private readonly closers: (() => Promise<void>)[] = [];
  private nextId = 1;

  private constructor(
    readonly assembly: CloudAssembly, readonly stackName: string, readonly region: string, readonly t: ResolvedTemplate, readonly proxy: AwsPolicyProxy,
    readonly ecs: EcsApiStandIn, readonly cloudwatch: CloudWatchStandIn, readonly bucket: string, readonly table: string,
    /** The S3 stand-in itself, for the test's own unsigned reads (no role, no policy). */
    readonly s3Url: string, private readonly scratch: string,
  ) {}

  static async start(which?: StackToRun): Promise<AsDeployedStack> {
    const { assembly, stackName, region } = which ?? { assembly: await sharedAssembly(), stackName: 'Bridgecast', region: TEST_REGION };
    const t = resolveTemplate(assembly.template, TEST_ACCOUNT, region);
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-as-deployed-'));
    const closers: (() => Promise<void>)[] = [];

    // DynamoDB: the streams table exactly as the template defines it.
    const tableId = t.findOne('AWS::DynamoDB::Table');
    const tableProps = t.template.Resources[tableId]!.Properties!;
    const table = t.nameOf(tableId);
    const db = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => db.listen(0, '127.0.0.1', () => resolve()));
    closers.push(() => new Promise((resolve) => db.close(() => resolve())));
    const dynamodbUrl = `http://127.0.0.1:${(db.address() as AddressInfo).port}`;
    const admin = new DynamoDBClient({ endpoint: dynamodbUrl, region, credentials: { accessKeyId: 'admin', secretAccessKey: 'admin' } });
    const gsis = (tableProps.GlobalSecondaryIndexes as { IndexName: string; KeySchema: { AttributeName: string; KeyType: string }[]; Projection: unknown }[] | undefined) ?? [];
    await admin.send(new CreateTableCommand({
      TableName: table,
      KeySchema: tableProps.KeySchema,
      AttributeDefinitions: tableProps.AttributeDefinitions,
      BillingMode: 'PAY_PER_REQUEST',
      ...(gsis.length ? { GlobalSecondaryIndexes: gsis.map((g) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection })) } : {}),
    } as CreateTableCommandInput));
    admin.destroy();
    const hashKey = (schema: { AttributeName: string; KeyType: string }[]) => schema.find((k) => k.KeyType === 'HASH')!.AttributeName;
    const schema: TableSchema = {
      name: table,
      partitionKey: hashKey(tableProps.KeySchema as never),
      indexes: Object.fromEntries(gsis.map((g) => [g.IndexName, hashKey(g.KeySchema)])),
    };

    // S3: the HLS bucket.
    const bucket = t.nameOf(t.findOne('AWS::S3::Bucket', (p) => JSON.stringify(p.LifecycleConfiguration ?? '').includes('live/')));
    const s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: path.join(scratch, 's3'), silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
    const s3Address = await s3.run();
    closers.push(() => s3.close());

    const ecs = new EcsApiStandIn(region, TEST_ACCOUNT);
    const serviceId = t.findOne('AWS::ECS::Service');
    const clusterName = t.nameOf((t.template.Resources[serviceId]!.Properties!.Cluster as { Ref: string }).Ref);
    ecs.addService(clusterName, t.nameOf(serviceId), 1, 1);
    const cloudwatch = new CloudWatchStandIn();
    const s3Url = `http://127.0.0.1:${s3Address.port}`;
    const proxy = await new AwsPolicyProxy({
      account: TEST_ACCOUNT, region, dynamodbUrl, s3Url, tables: [schema], ecs: ecs.handle, cloudwatch: cloudwatch.handle,
    }).start();
    closers.push(() => proxy.close());
    const stack = new AsDeployedStack(assembly, stackName, region, t, proxy, ecs, cloudwatch, bucket, table, s3Url, scratch);
    stack.closers.push(...closers);
    return stack;
  }

  /** Credentials of the role a template attribute (Fn::GetAtt [role, Arn]) names. */
  private credentialsOfRoleRef(roleRef: unknown): { accessKeyId: string; secretAccessKey: string } {
    const roleId = (roleRef as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    return this.proxy.credentialsFor(this.t.nameOf(roleId), roleStatements(this.t, roleId));
  }

  /** The media container of the task definition. */
  mediaContainer(): { environment: Record<string, string>; secrets: string[]; command?: string[]; entryPoint?: string[]; taskRole: unknown; family: string } {
    const id = this.t.findOne('AWS::ECS::TaskDefinition');
    const props = this.t.template.Resources[id]!.Properties!;
    const container = (props.ContainerDefinitions as Record<string, unknown>[]).find((c) => c.Name === 'media')!;
    const environment = Object.fromEntries((this.t.resolve(container.Environment) as { Name: string; Value: string }[]).map((e) => [e.Name, e.Value]));
    // ECS `secrets`: names only; ECS fetches the values from Secrets Manager (see the stand-in values in startTask).
    const secrets = ((container.Secrets ?? []) as { Name: string }[]).map((x) => x.Name);
    return { environment, secrets, command: container.Command as string[] | undefined, entryPoint: container.EntryPoint as string[] | undefined, taskRole: props.TaskRoleArn, family: String(props.Family ?? id) };
  }

  /**
   * Starts one task of the media service; resolves once /healthz answers 200
   * (rejects if the process exits first). `endpoints` replaces addresses of
   * other deployments in the task's environment (an edge's EDGE_ORIGIN and
   * EDGE_ORIGIN_API: here the origin is a local task, not an NLB); nothing else.
   */
  async startTask(endpoints: Partial<Record<'EDGE_ORIGIN' | 'EDGE_ORIGIN_API', string>> = {}): Promise<RunningTask> {
    for (const name of Object.keys(endpoints)) {
      if (!(name in this.mediaContainer().environment)) throw new Error(`${name} is not in the task definition: nothing to replace`);
    }
    const container = this.mediaContainer();
    const image = imageRuntime();
    if (container.entryPoint) throw new Error('the task definition overrides the ENTRYPOINT: not modelled');
    const cmd = container.command ?? image.cmd; // a Command in the task definition overrides the image's CMD
    const index = this.tasks.length + 1;
    const serviceId = this.t.findOne('AWS::ECS::Service');
    const clusterName = this.t.nameOf((this.t.template.Resources[serviceId]!.Properties!.Cluster as { Ref: string }).Ref);
    const clusterArn = `arn:aws:ecs:${this.region}:${TEST_ACCOUNT}:cluster/${clusterName}`;
    const taskArn = `arn:aws:ecs:${this.region}:${TEST_ACCOUNT}:task/${clusterName}/${index.toString(16).padStart(32, '0')}`;
    const credentials = this.credentialsOfRoleRef(container.taskRole);
    const taskEndpoints = await new TaskEndpointsStandIn({ taskArn, clusterArn, family: container.family }, this.proxy.url, this.region,
      this.credentialsOfRoleRef(container.taskRole)).start();
    this.closers.push(() => taskEndpoints.close());
    const [rtmpPort, kcpPort, httpPort] = [await freePort('tcp'), await freePort('udp'), await freePort('tcp')];
    const dataDir = await mkdtemp(path.join(this.scratch, `task${index}-`));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dataDir,
      ...image.env,
      ...container.environment,
      ...endpoints,
      // ECS resolves the container's secrets into its environment (all tasks get the same value: one secret).
      ...Object.fromEntries(container.secrets.map((name) => [name, `stand-in-${name.toLowerCase()}-of-this-deployment`])),
      // What ECS injects into every container:
      AWS_DEFAULT_REGION: container.environment.AWS_REGION ?? this.region,
      AWS_EXECUTION_ENV: 'AWS_ECS_FARGATE',
      ECS_AGENT_URI: taskEndpoints.agentUri,
      ECS_CONTAINER_METADATA_URI_V4: taskEndpoints.metadataUri,
      // Replaced: credentials (the task role's), endpoints, ports, the data directory.
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_ENDPOINT_URL: this.proxy.url,
      HOST: '127.0.0.1',
      RTMP_PORT: String(rtmpPort),
      KCP_PORT: String(kcpPort),
      HTTP_PORT: String(httpPort),
      DATA_DIR: dataDir,
    };
    const child = spawn(cmd[0]!, cmd.slice(1), { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const task: RunningTask = {
      taskArn, rtmpPort, kcpPort, httpPort, output: [], exitCode: null, env,
      stop: async (signal = 'SIGTERM') => {
        if (task.exitCode === null && child.exitCode === null) {
          child.kill(signal);
          await new Promise((resolve) => child.once('exit', resolve));
        }
        return task.exitCode;
      },
    };
    let partial = '';
    const collect = (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      task.output.push(...lines);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const exited = new Promise<void>((resolve) => child.on('exit', (code, signal) => { task.exitCode = code ?? (signal ? 128 : null); resolve(); }));
    this.closers.push(async () => { await task.stop('SIGKILL'); });
    this.tasks.push(task);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const state = await Promise.race([exited.then(() => 'exited' as const), new Promise<'tick'>((r) => setTimeout(() => r('tick'), 200))]);
      if (state === 'exited') throw new Error(`task exited with ${task.exitCode} before it was healthy:\n${task.output.join('\n')}`);
      const ok = await fetch(`http://127.0.0.1:${httpPort}/healthz`).then((r) => r.ok).catch(() => false);
      if (ok) return task;
      if (Date.now() > deadline) throw new Error(`task not healthy within 60 s:\n${task.output.join('\n')}`);
    }
  }

  /** The Lambda whose Description starts with `description`. */
  private lambdaId(description: string): string {
    return this.t.findOne('AWS::Lambda::Function', (p) => String(p.Description ?? '').startsWith(description));
  }

  /** Runs `event` through the Lambda's synthesized bundle, in its own process with its role's credentials and template environment. */
  async invoke<T = unknown>(description: string, event: unknown): Promise<T> {
    const id = this.lambdaId(description);
    let runner = this.lambdas.get(id);
    if (!runner) {
      const props = this.t.template.Resources[id]!.Properties!;
      const code = props.Code as { S3Key: string };
      const assets = JSON.parse(readFileSync(path.join(this.assembly.dir, `${this.stackName}.assets.json`), 'utf8')) as { files: Record<string, { source: { path: string; packaging?: string } }> };
      const asset = assets.files[code.S3Key.replace(/\.zip$/, '')];
      if (!asset || asset.source.packaging !== 'zip') throw new Error(`${id}: no zipped asset for ${code.S3Key}`);
      const credentials = this.credentialsOfRoleRef(props.Role);
      const templateEnv = this.t.resolve((props.Environment as { Variables?: unknown } | undefined)?.Variables ?? {}) as Record<string, string>;
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...templateEnv,
        // What the Lambda runtime sets:
        AWS_REGION: this.region,
        AWS_DEFAULT_REGION: this.region,
        AWS_LAMBDA_FUNCTION_NAME: this.t.nameOf(id),
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(props.MemorySize ?? 128),
        AWS_EXECUTION_ENV: `AWS_Lambda_${String(props.Runtime)}`,
        LAMBDA_TASK_ROOT: path.join(this.assembly.dir, asset.source.path),
        // Replaced: credentials and the endpoint.
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_ENDPOINT_URL: this.proxy.url,
      };
      const child = fork(path.join(REPO_ROOT, 'test/helpers/as-deployed/lambda-runner.mjs'), [path.join(this.assembly.dir, asset.source.path), String(props.Handler)], {
        env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [],
      });
      const pending = new Map<number, (v: { result?: unknown; error?: string }) => void>();
      const entry = { child, pending };
      const output: string[] = [];
      this.lambdaOutput.set(id, output);
      child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
      child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.on('message', (m: { ready?: boolean; id?: number; result?: unknown; error?: string }) => {
          if (m.ready) return resolve();
          pending.get(m.id!)?.(m);
          pending.delete(m.id!);
        });
        child.once('exit', (code) => reject(new Error(`${id} exited ${code} while loading:\n${output.join('')}`)));
      });
      this.lambdas.set(id, runner = entry);
      this.closers.push(async () => { child.kill(); });
    }
    const requestId = this.nextId++;
    const answer = await new Promise<{ result?: unknown; error?: string }>((resolve) => {
      runner!.pending.set(requestId, resolve);
      runner!.child.send({ id: requestId, event });
    });
    if (answer.error) throw new Error(answer.error);
    return answer.result as T;
  }

  async close(): Promise<void> {
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    await rm(this.scratch, { recursive: true, force: true });
  }
}

/** An API Gateway HTTP API (payload 2.0) event as the IAM-authorized route hands it to the stream-keys Lambda. */
export function httpApiEvent(method: string, rawPath: string, body?: unknown): Record<string, unknown> {
  return {
    version: '2.0', routeKey: `ANY ${rawPath.startsWith('/streams/') ? '/streams/{proxy+}' : '/streams'}`, rawPath, rawQueryString: '',
    headers: { 'content-type': 'application/json', host: 'abcdef1234.execute-api.ap-northeast-2.amazonaws.com' },
    requestContext: { http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'harness' }, stage: '$default', requestId: `r${Date.now()}`, authorizer: { iam: { accountId: TEST_ACCOUNT } } },
    body: body === undefined ? undefined : JSON.stringify(body), isBase64Encoded: false,
  };
}
