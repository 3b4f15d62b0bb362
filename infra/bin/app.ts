import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BridgecastStack, DEFAULT_PARAMETERS, type BridgecastParameters } from '../lib/bridgecast-stack.js';
import { DEFAULT_EDGE_SEGMENT_RETENTION_DAYS, EdgeStack, parseEdgeOrigin, type EdgeMode, type EdgeParameters } from '../lib/edge-stack.js';
import { EdgeWafStack } from '../lib/edge-waf-stack.js';
import { HTTP_PORT, KCP_PORT, replicaSecretArn } from '../lib/media-service.js';
import { partitionOf } from '../lib/partition.js';

const INTEGER_PARAMETERS = ['minTasks', 'maxTasks', 'cpu', 'memoryMiB', 'natGateways', 'recordingRetentionDays', 'recordingArchiveDays'] as const;

export interface BridgecastApp {
  app: App;
  /** The origin (absent with -c role=edge). */
  stack?: BridgecastStack;
  edges: EdgeStack[];
  edgeWaf?: EdgeWafStack;
}

/**
 * `npx cdk deploy` entry. Parameters come from context (cdk.json or
 * `-c maxTasks=20`), the account from the deploying credentials (the CLI
 * sets CDK_DEFAULT_ACCOUNT).
 *
 * Two shapes (docs/edges.md):
 * - the origin (`-c region=...`, default ap-northeast-2, Seoul, next to the
 *   broadcasters), plus an edge stack per region of `-c edgeRegions=ap-east-1,...`
 *   in the same partition and account;
 * - `-c role=edge -c region=cn-northwest-1 -c origin=kcp://<origin host>:1936
 *   -c relaySecretArn=...`: one edge stack alone, for another partition or
 *   account, with nothing referring to the origin's stacks.
 */
export function buildApp(app = new App()): BridgecastApp {
  const context = (name: string) => app.node.tryGetContext(name) as string | number | boolean | undefined;
  const text = (name: string) => { const v = context(name); return typeof v === 'string' && v.trim() ? v.trim() : undefined; };
  const list = (name: string) => text(name)?.split(',').map((v) => v.trim()).filter(Boolean);
  const parameters: BridgecastParameters = { ...DEFAULT_PARAMETERS };
  for (const name of INTEGER_PARAMETERS) {
    const value = context(name);
    if (value === undefined) continue;
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0) throw new Error(`context ${name} must be a non-negative integer, got "${String(value)}"`);
    parameters[name] = number;
  }
  const zones = context('availabilityZones');
  if (typeof zones === 'string') parameters.availabilityZones = zones.split(',').map((z) => z.trim()).filter(Boolean);
  for (const name of ['hlsDomainName', 'hlsCertificateArn', 'tlsCertificateArn', 'mediaDomainName', 'webAclArn', 'kcpFec'] as const) {
    const value = text(name);
    if (value) parameters[name] = value;
  }
  // `-c privatePlayback=true` arrives as a string, cdk.json may hold a boolean.
  parameters.privatePlayback = String(context('privatePlayback') ?? 'false') === 'true';
  for (const name of ['playbackPublicKeys', 'appOrigins'] as const) {
    const value = list(name);
    if (value) parameters[name] = value;
  }
  const stackName = text('stackName') ?? 'Bridgecast';
  const region = text('region') ?? 'ap-northeast-2';
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const edgeParameters = (edgeRegion: string, own: boolean): EdgeParameters => ({
    minTasks: parameters.minTasks, maxTasks: parameters.maxTasks, cpu: parameters.cpu, memoryMiB: parameters.memoryMiB,
    natGateways: parameters.natGateways, kcpFec: parameters.kcpFec,
    mode: (text('edgeMode') ?? 'all') as EdgeMode,
    segmentRetentionDays: DEFAULT_EDGE_SEGMENT_RETENTION_DAYS,
    // A stack of its own (role=edge) takes the plain context names; an edge next to the origin its region's.
    availabilityZones: own ? parameters.availabilityZones : list(`availabilityZones:${edgeRegion}`),
    ...(own ? { hlsDomainName: parameters.hlsDomainName, hlsIamCertificateId: text('hlsIamCertificateId') } : {}),
  });
  const edgeStackName = (edgeRegion: string) => `${stackName}-edge-${edgeRegion}`;
  const description = (edgeRegion: string) => `Bridgecast edge in ${edgeRegion}: pulls every live stream from the origin over KCP and serves it near the viewers`;

  const role = text('role') ?? 'origin';
  let result: BridgecastApp;
  if (role === 'edge') {
    const origin = text('origin');
    const relaySecretArn = text('relaySecretArn');
    if (!origin) throw new Error(`role=edge needs -c origin=kcp://<origin host>:${KCP_PORT} (the origin's NLB or its DNS name)`);
    if (!relaySecretArn) throw new Error('role=edge needs -c relaySecretArn=<ARN of a Secrets Manager secret in this region holding the origin\'s relay secret> (docs/edges.md)');
    validateRelaySecretArn(relaySecretArn, region);
    const edge = new EdgeStack(app, edgeStackName(region), {
      env: { account, region },
      parameters: edgeParameters(region, true),
      origin: parseEdgeOrigin(origin, text('originApi')),
      relaySecretArn,
      description: description(region),
    });
    result = { app, edges: [edge] };
  } else if (role === 'origin') {
    const edgeRegions = list('edgeRegions') ?? [];
    for (const edgeRegion of edgeRegions) {
      if (partitionOf(edgeRegion) !== partitionOf(region)) {
        throw new Error(`edgeRegions: ${edgeRegion} is in the ${partitionOf(edgeRegion)} partition and ${region} in ${partitionOf(region)}; nothing can refer across partitions: deploy that edge on its own with -c role=edge -c region=${edgeRegion} -c origin=kcp://<origin host>:${KCP_PORT} (docs/edges.md)`);
      }
      if (edgeRegion === region) throw new Error(`edgeRegions: ${edgeRegion} is the origin's region`);
    }
    // `-c edgeWaf=true`: also the us-east-1 stack with the CDN's rate-based web ACL (deploy it first, then pass its ARN).
    const edgeWaf = String(context('edgeWaf') ?? 'false') === 'true'
      ? new EdgeWafStack(app, `${stackName}EdgeWaf`, {
        env: { account },
        ratePerFiveMinutes: Number(context('edgeWafRateLimit') ?? 2000),
        description: 'Bridgecast: rate-based AWS WAF web ACL for the HLS CloudFront distribution (us-east-1, as CloudFront requires)',
      })
      : undefined;
    // Edges learn the origin's host and their replica of the relay secret
    // through CDK cross-region references: the origin's stack writes the
    // values into SSM parameters of each edge region at deploy time, the
    // edge's template reads them with {{resolve:ssm:...}}. It needs no
    // credentials and no Docker at synth, orders the deployments itself
    // (`cdk deploy --all`), and keeps the origin from deleting a value an edge
    // still uses. The alternatives: an SSM lookup at synth needs credentials,
    // and a context value would need a second deployment with the NLB's name
    // copied by hand.
    // https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib-readme.html#accessing-resources-in-a-different-stack-and-region
    const crossRegionReferences = edgeRegions.length > 0;
    const stack = new BridgecastStack(app, stackName, {
      env: { account, region },
      parameters,
      edgeRegions,
      crossRegionReferences,
      description: 'Bridgecast: live streaming across bad networks (RTMP, RTMP over KCP, HLS via CloudFront)',
    });
    const edges = edgeRegions.map((edgeRegion) => new EdgeStack(app, edgeStackName(edgeRegion), {
      env: { account, region: edgeRegion },
      crossRegionReferences,
      parameters: edgeParameters(edgeRegion, false),
      origin: { url: `kcp://${stack.originHost}:${KCP_PORT}`, apiUrl: `http://${stack.originHost}:${HTTP_PORT}` },
      // The replica of the origin's secret in the edge's region (the origin's stack replicates it there).
      relaySecretArn: replicaSecretArn(stack.media.relaySecret, edgeRegion),
      description: description(edgeRegion),
    }));
    result = { app, stack, edges, ...(edgeWaf ? { edgeWaf } : {}) };
  } else {
    throw new Error(`role must be "origin" (default) or "edge", got "${role}"`);
  }
  // cdk-nag's AWS Solutions rules run at synth; an unacknowledged finding fails it.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return result;
}

/**
 * The edge's task definition names its secret by full ARN (ECS `secrets`
 * take a Secrets Manager secret only by full ARN), in the edge's own
 * partition and region.
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ecs-taskdefinition-secret.html
 */
export function validateRelaySecretArn(arn: string, region: string): void {
  const partition = partitionOf(region);
  if (!new RegExp(`^arn:${partition}:secretsmanager:${region}:\\d{12}:secret:[\\w/+=.@-]+-[A-Za-z0-9]{6}$`).test(arn)) {
    throw new Error(`relaySecretArn must be the full ARN of a secret in ${region} (arn:${partition}:secretsmanager:${region}:<account>:secret:<name>-<6 characters>), got "${arn}"`);
  }
}

if (process.argv[1]?.endsWith('app.ts')) buildApp().app.synth();
