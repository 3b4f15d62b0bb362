/**
 * The CDK stack, synthesized as `cdk deploy` runs it (the CDK CLI, an
 * account id set as the CLI sets it from the credentials, context from
 * cdk.json, no credentials and no Docker, see test/helpers/as-deployed/synth.ts):
 * what broadcasters, viewers and operators depend on is asserted on the
 * template, cdk-nag's AWS Solutions rules run as part of synth (an
 * unacknowledged finding fails it), and cfn-lint checks the template.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { App, Stack } from 'aws-cdk-lib';
import { HlsDelivery } from '@bridgecast/infra/lib/hls-delivery.js';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { buildApp } from '@bridgecast/infra/bin/app.js';
import { REPO_ROOT, sharedAssembly, TEST_ACCOUNT, type CloudAssembly } from '../helpers/as-deployed/synth.js';

let template: Template;
let assembly: CloudAssembly;

type Resource = { Properties: Record<string, unknown> };
const resourcesOf = (type: string) => Object.values(template.findResources(type)) as Resource[];

/** Every IAM statement of the policies attached to roles whose logical id contains `role`. */
function statementsOfRole(role: string): { Action: string | string[]; Resource: unknown }[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => JSON.stringify((p as Resource).Properties.Roles).includes(role))
    .flatMap((p) => ((p as Resource).Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement);
}

const actions = (s: { Action: string | string[] }) => [s.Action].flat();

before(async () => {
  assembly = await sharedAssembly(); // rejects with the CLI's output if synthesis (cdk-nag included) fails
  template = Template.fromJSON(assembly.template);
});

describe('synthesis as `cdk deploy` runs it', () => {
  it('succeeds with an account id set and no credentials: no lookup left, every cdk-nag finding acknowledged', () => {
    assert.ok(existsSync(path.join(assembly.dir, 'Bridgecast.template.json')));
    // ARNs carry the literal account, as they do under `cdk deploy`.
    assert.match(JSON.stringify(template.toJSON()), new RegExp(`:${TEST_ACCOUNT}:task/`));
    const manifest = JSON.parse(readFileSync(path.join(assembly.dir, 'manifest.json'), 'utf8')) as { missing?: unknown[] };
    assert.equal(manifest.missing, undefined, 'no context lookup left for deploy time');
  });

  it('acknowledgements are scoped to their constructs: a new wildcard anywhere else fails synthesis', async () => {
    const context = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
    const outdir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-nag-'));
    const saved = process.env.CDK_DEFAULT_ACCOUNT;
    process.env.CDK_DEFAULT_ACCOUNT = TEST_ACCOUNT;
    try {
      // No bundling: only the policies matter here.
      const { app, stack } = buildApp(new App({ outdir, context: { ...context, 'aws:cdk:bundling-stacks': [] } }));
      const handler = stack!.node.findAll().find((c) => c.node.path === 'Bridgecast/StreamKeys/Handler') as NodejsFunction;
      handler.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: ['*'] }));
      assert.throws(() => app.synth(), /Validation failed/);
      const report = readFileSync(path.join(outdir, 'validation-report.json'), 'utf8');
      const failing = [...report.matchAll(/"ruleName":\s*"([^"]+)"[\s\S]*?"constructPath":\s*"([^"]+)"/g)].map((m) => `${m[1]} ${m[2]}`);
      assert.ok(failing.some((f) => f.includes('IAM5') && f.includes('StreamKeys/Handler')), `the wildcard is reported: ${failing.join('; ')}`);
    } finally {
      if (saved === undefined) delete process.env.CDK_DEFAULT_ACCOUNT;
      else process.env.CDK_DEFAULT_ACCOUNT = saved;
      await rm(outdir, { recursive: true, force: true });
    }
  });

  it('the VPC spans two explicit availability zones', () => {
    const zones = new Set(resourcesOf('AWS::EC2::Subnet').map((s) => s.Properties.AvailabilityZone));
    assert.deepEqual([...zones].sort(), ['ap-northeast-2a', 'ap-northeast-2c']);
  });
});

describe('media service behind the NLB', () => {
  it('TCP 1935 (RTMP), UDP 1936 (KCP) and TCP 8080 (HTTP-FLV) listeners, internet-facing, cross-zone, no access logs', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing', Type: 'network',
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }]),
    });
    const listeners = resourcesOf('AWS::ElasticLoadBalancingV2::Listener').map((l) => [l.Properties.Port, l.Properties.Protocol]);
    assert.deepEqual(listeners.sort(), [[1935, 'TCP'], [1936, 'UDP'], [8080, 'TCP']]);
    const attributes = resourcesOf('AWS::ElasticLoadBalancingV2::LoadBalancer')[0]!.Properties.LoadBalancerAttributes as { Key: string; Value: string }[];
    assert.ok(!attributes.some((a) => a.Key === 'access_logs.s3.enabled' && a.Value === 'true'), 'an NLB logs only TLS listeners');
  });

  it('IP target groups: health from HTTP /healthz on 8080, deregistration matched to the stop timeout, client IPs preserved', () => {
    const groups = resourcesOf('AWS::ElasticLoadBalancingV2::TargetGroup');
    assert.equal(groups.length, 3);
    for (const g of groups) {
      assert.equal(g.Properties.TargetType, 'ip');
      assert.equal(g.Properties.HealthCheckProtocol, 'HTTP');
      assert.equal(g.Properties.HealthCheckPath, '/healthz');
      assert.equal(g.Properties.HealthCheckPort, '8080');
      const attributes = Object.fromEntries((g.Properties.TargetGroupAttributes as { Key: string; Value: string }[]).map((a) => [a.Key, a.Value]));
      // Deregistration runs before SIGTERM (then DRAIN_SECONDS, then SIGKILL at the stop timeout): short, connections kept.
      assert.equal(attributes['deregistration_delay.timeout_seconds'], '30');
      assert.equal(attributes['deregistration_delay.connection_termination.enabled'], 'false');
      assert.equal(attributes['preserve_client_ip.enabled'], 'true');
    }
    assert.equal(groups.find((g) => g.Properties.Port === 1935)!.Properties.Protocol, 'TCP');
    assert.equal(groups.find((g) => g.Properties.Port === 1936)!.Properties.Protocol, 'UDP');
    assert.equal(groups.find((g) => g.Properties.Port === 8080)!.Properties.Protocol, 'TCP');
  });

  it('an explicit service name, passed as METRICS_SERVICE_NAME to the task and the autoscaler alike', () => {
    template.hasResourceProperties('AWS::ECS::Service', { ServiceName: 'Bridgecast-media' });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'METRICS_SERVICE_NAME', Value: 'Bridgecast-media' }]) })],
    });
    const autoscaler = resourcesOf('AWS::Lambda::Function').find((f) => String(f.Properties.Description).includes('autoscaler'))!;
    const env = (autoscaler.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    assert.equal(env.METRICS_SERVICE_NAME, 'Bridgecast-media');
  });

  it('Fargate 1.4+ with rollback, no DesiredCount, the container stops within 120 s and drains before that', () => {
    assert.equal(resourcesOf('AWS::ECS::Service')[0]!.Properties.DesiredCount, undefined, 'updates must not reset the autoscaler\'s count');
    template.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE', PlatformVersion: 'LATEST',
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 100 }),
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({
        StopTimeout: 120,
        PortMappings: [{ ContainerPort: 1935, Protocol: 'tcp', Name: 'rtmp' }, { ContainerPort: 1936, Protocol: 'udp', Name: 'kcp' }, { ContainerPort: 8080, Protocol: 'tcp', Name: 'http' }],
        Environment: Match.arrayWith([{ Name: 'AUTH', Value: 'keys' }, { Name: 'KCP_PORT', Value: '1936' }, { Name: 'EMF', Value: 'true' }, { Name: 'DRAIN_SECONDS', Value: '90' }]),
      })],
    });
  });

  it('the service listens where the load balancer sends: RTMP_PORT / KCP_PORT / HTTP_PORT are the load-balanced tcp/udp/tcp mappings', () => {
    const container = (resourcesOf('AWS::ECS::TaskDefinition')[0]!.Properties.ContainerDefinitions as { Environment: { Name: string; Value: string }[]; PortMappings: { ContainerPort: number; Protocol: string; Name: string }[] }[])[0]!;
    const env = Object.fromEntries(container.Environment.map((e) => [e.Name, e.Value]));
    const mapping = (name: string) => container.PortMappings.find((m) => m.Name === name)!;
    assert.deepEqual([env.RTMP_PORT, env.KCP_PORT, env.HTTP_PORT], [mapping('rtmp'), mapping('kcp'), mapping('http')].map((m) => String(m.ContainerPort)));
    assert.deepEqual([mapping('rtmp').Protocol, mapping('kcp').Protocol, mapping('http').Protocol], ['tcp', 'udp', 'tcp']);
    const service = resourcesOf('AWS::ECS::Service')[0]!.Properties.LoadBalancers as { ContainerPort: number; TargetGroupArn: { Ref: string } }[];
    const groups = template.toJSON().Resources as Record<string, { Properties: { Port: number; Protocol: string } }>;
    assert.deepEqual(service.map((lb) => `${groups[lb.TargetGroupArn.Ref]!.Properties.Protocol}/${lb.ContainerPort}`).sort(),
      [`TCP/${env.RTMP_PORT}`, `TCP/${env.HTTP_PORT}`, `UDP/${env.KCP_PORT}`].sort());
    const keysApi = resourcesOf('AWS::Lambda::Function').find((f) => String(f.Properties.Description).startsWith('Bridgecast stream keys'))!;
    const apiEnv = (keysApi.Properties.Environment as { Variables: Record<string, string> }).Variables;
    assert.deepEqual([apiEnv.RTMP_PORT, apiEnv.KCP_PORT], [env.RTMP_PORT, env.KCP_PORT], 'the keys API hands out the same ports');
    assert.equal(apiEnv.KCP_FEC, env.KCP_FEC, 'and the KCP port\'s FEC, which its kcp:// URLs must carry');
  });

  it('S3 and DynamoDB gateway endpoints on the task subnets, so HLS uploads and key lookups skip the NAT gateway', () => {
    const endpoints = resourcesOf('AWS::EC2::VPCEndpoint').map((e) => e.Properties as { ServiceName: unknown; VpcEndpointType: string; RouteTableIds: unknown[] });
    const services = endpoints.map((e) => JSON.stringify(e.ServiceName).match(/\.(s3|dynamodb)"/)?.[1]).sort();
    assert.deepEqual(services, ['dynamodb', 's3']);
    assert.ok(endpoints.every((e) => e.VpcEndpointType === 'Gateway' && e.RouteTableIds.length >= 2), 'on the route tables of both private subnets');
  });

  it('the tasks\' and the NLB\'s security groups each open exactly tcp/1935, udp/1936 and tcp/8080; the NLB has its group from creation', () => {
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    const ingressOf = (id: string) => (((groups[id] as Resource).Properties.SecurityGroupIngress as { IpProtocol: string; FromPort: number; ToPort: number }[] | undefined) ?? [])
      .map((r) => `${r.IpProtocol}/${r.FromPort}-${r.ToPort}`).sort();
    const ids = Object.keys(groups).filter((id) => ingressOf(id).length > 0).sort();
    assert.deepEqual(ids.map((id) => id.replace(/[0-9A-F]{8}$/, '')), ['MediaIngress', 'MediaNlbSecurityGroup']);
    for (const id of ids) assert.deepEqual(ingressOf(id), ['tcp/1935-1935', 'tcp/8080-8080', 'udp/1936-1936'], id);
    // An NLB created without a security group can never get one: it must be in the template from the start.
    // https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_SetSecurityGroups.html
    const nlbGroup = ids.find((id) => id.startsWith('MediaNlbSecurityGroup'))!;
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network', SecurityGroups: [{ 'Fn::GetAtt': [nlbGroup, 'GroupId'] }],
    });
  });

  it('the task role may write only live/* and recordings/* of the bucket, read and delete only live/*, list (for 404s), and read the table', () => {
    const s3 = statementsOfRole('MediaTaskTaskRole').filter((s) => actions(s).some((a) => a.startsWith('s3:')));
    assert.deepEqual(s3.flatMap(actions).sort(), ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject']);
    const reads = s3.find((s) => actions(s).includes('s3:GetObject'))!;
    assert.match(JSON.stringify(reads.Resource), /\/live\/\*/);
    assert.doesNotMatch(JSON.stringify(reads.Resource), /recordings/);
    const resources = JSON.stringify(s3.map((s) => s.Resource));
    assert.match(resources, /\/live\/\*/);
    assert.match(resources, /\/recordings\/\*/);
    const deletes = s3.filter((s) => actions(s).includes('s3:DeleteObject'));
    assert.equal(deletes.length, 1);
    assert.doesNotMatch(JSON.stringify(deletes[0]!.Resource), /recordings/, 'recordings are never deleted by the task');
    const dynamo = statementsOfRole('MediaTaskTaskRole').flatMap(actions).filter((a) => a.startsWith('dynamodb:'));
    assert.deepEqual([...new Set(dynamo)].sort(), ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    // Writes only to the live-stream registry's partition (its leases) and, PutItem only, to the relay link
    // records (EDGE_LINK); never to stream records or recordings.
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
    const writes = statementsOfRole('MediaTaskTaskRole').filter((s) => actions(s).includes('dynamodb:PutItem'));
    assert.deepEqual(writes.map((w) => [actions(w).sort().join(), (w as { Condition?: unknown }).Condition]), [
      ['dynamodb:DeleteItem,dynamodb:PutItem,dynamodb:UpdateItem', { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['LIVE'] } }],
      ['dynamodb:PutItem', { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['EDGE_LINK'] } }],
    ]);
  });

  it('tasks reach each other\'s RTMP port (pulls between tasks), and the relay secret comes from Secrets Manager, not the template', () => {
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    const mediaGroup = Object.keys(groups).find((id) => String(groups[id]!.Properties.GroupDescription).startsWith('Bridgecast media'))!;
    const selfRules = resourcesOf('AWS::EC2::SecurityGroupIngress')
      .filter((r) => JSON.stringify(r.Properties.SourceSecurityGroupId) === JSON.stringify({ 'Fn::GetAtt': [mediaGroup, 'GroupId'] })
        && JSON.stringify(r.Properties.GroupId) === JSON.stringify({ 'Fn::GetAtt': [mediaGroup, 'GroupId'] }));
    assert.deepEqual(selfRules.map((r) => `${String(r.Properties.IpProtocol)}/${String(r.Properties.FromPort)}-${String(r.Properties.ToPort)}`), ['tcp/1935-1935']);
    const task = resourcesOf('AWS::ECS::TaskDefinition')[0]!;
    const container = (task.Properties.ContainerDefinitions as { Name: string; Environment: { Name: string }[]; Secrets?: { Name: string; ValueFrom: unknown }[] }[]).find((c) => c.Name === 'media')!;
    assert.deepEqual(container.Secrets?.map((x) => x.Name), ['RELAY_SECRET']);
    assert.ok(!container.Environment.some((e) => e.Name === 'RELAY_SECRET'), 'never a plain environment variable');
    assert.match(JSON.stringify(container.Secrets![0]!.ValueFrom), /RelaySecret/);
    const secrets = resourcesOf('AWS::SecretsManager::Secret');
    assert.equal(secrets.length, 1);
    assert.ok(secrets[0]!.Properties.GenerateSecretString && !('SecretString' in secrets[0]!.Properties), 'the value is generated by Secrets Manager, never written in the template');
  });

  it('the task role may set and read its own scale-in protection (the ECS agent signs with it), on the cluster\'s tasks only', () => {
    const ecs = statementsOfRole('MediaTaskTaskRole').filter((s) => actions(s).some((a) => a.startsWith('ecs:')));
    assert.equal(ecs.length, 1);
    assert.deepEqual(actions(ecs[0]!).sort(), ['ecs:GetTaskProtection', 'ecs:UpdateTaskProtection']);
    const resource = JSON.stringify(ecs[0]!.Resource);
    assert.match(resource, /:ecs:.*:task\//);
    assert.match(resource, /MediaCluster/);
    assert.match(resource, /\/\*"/);
  });
});

describe('HLS bucket and CloudFront', () => {
  it('the bucket is encrypted, private, TLS-only, with live windows expiring and only large recording segments archived (kept forever by default)', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'live/', ExpirationInDays: 1, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'recordings/', ObjectSizeGreaterThan: Match.anyValue(), Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }] }),
        ]),
      },
    });
    const rules = (resourcesOf('AWS::S3::Bucket').find((b) => JSON.stringify(b.Properties.LifecycleConfiguration ?? '').includes('live/'))!
      .Properties.LifecycleConfiguration as { Rules: { Prefix?: string; ExpirationInDays?: number }[] }).Rules;
    assert.ok(!rules.some((r) => r.Prefix === 'recordings/' && r.ExpirationInDays), 'recordingRetentionDays defaults to keep forever');
  });

  it('recordingRetentionDays expires recordings; the Glacier IR transition is kept only where it pays', () => {
    const rulesFor = (recordingRetentionDays: number, recordingArchiveDays: number) => {
      const stack = new Stack(new App());
      new HlsDelivery(stack, 'H', { recordingRetentionDays, recordingArchiveDays });
      const bucket = Object.values(Template.fromStack(stack).findResources('AWS::S3::Bucket'))
        .find((b) => JSON.stringify(b).includes('live-windows')) as Resource;
      return (bucket.Properties.LifecycleConfiguration as { Rules: { Id: string; ExpirationInDays?: number; ObjectSizeGreaterThan?: string; Transitions?: { TransitionInDays: number }[] }[] }).Rules
        .filter((r) => r.Id.includes('recording'))
        .map((r) => `${r.Id}:${r.ExpirationInDays ?? ''}${r.Transitions ? `:${r.Transitions[0]!.TransitionInDays}:${r.ObjectSizeGreaterThan}` : ''}`);
    };
    assert.deepEqual(rulesFor(0, 90), ['large-recording-segments-to-glacier-ir::90:524288'], 'kept forever: archive large segments');
    assert.deepEqual(rulesFor(365, 90), ['recordings-retention:365', 'large-recording-segments-to-glacier-ir::90:524288'], '275 days in the archive pay');
    assert.deepEqual(rulesFor(180, 90), ['recordings-retention:180'], '90 days in the archive would not earn the transitions back');
    assert.deepEqual(rulesFor(30, 0), ['recordings-retention:30']);
  });

  it('CloudFront keeps a 403/404 from S3 for one second, not the default 10 s', () => {
    const config = resourcesOf('AWS::CloudFront::Distribution')[0]!.Properties.DistributionConfig as { CustomErrorResponses: { ErrorCode: number; ErrorCachingMinTTL: number; ResponsePagePath?: string }[] };
    assert.deepEqual(config.CustomErrorResponses.map((r) => [r.ErrorCode, r.ErrorCachingMinTTL, r.ResponsePagePath]).sort(), [[403, 1, undefined], [404, 1, undefined]]);
  });

  it('CloudFront reads the bucket through Origin Access Control, playlists cached ~1 s, segments long, CORS headers', () => {
    template.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    const policies = resourcesOf('AWS::CloudFront::CachePolicy').map((p) => p.Properties.CachePolicyConfig as { DefaultTTL: number; MaxTTL: number });
    assert.ok(policies.some((p) => p.DefaultTTL === 1 && p.MaxTTL <= 2), 'a ~1 s playlist policy');
    assert.ok(policies.some((p) => p.MaxTTL === 365 * 86400), 'a long segment policy');
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        CacheBehaviors: [
          Match.objectLike({ PathPattern: 'recordings/*.m3u8', ViewerProtocolPolicy: 'redirect-to-https' }),
          Match.objectLike({ PathPattern: '*.m3u8', ViewerProtocolPolicy: 'redirect-to-https' }),
        ],
      }),
    });
    // Recordings (segments and vod.m3u8 under recordings/) go through the same origin: segments by the default
    // (long) behaviour, their playlists by recordings/*.m3u8 (before *.m3u8: the first match wins); one origin,
    // so the recordings URL the API hands out resolves.
    const distribution = resourcesOf('AWS::CloudFront::Distribution')[0]!.Properties.DistributionConfig as {
      DefaultCacheBehavior: { CachePolicyId: unknown; TargetOriginId: string }; CacheBehaviors: { CachePolicyId: unknown; TargetOriginId: string }[]; Origins: unknown[];
    };
    assert.equal(distribution.Origins.length, 1);
    assert.ok(distribution.CacheBehaviors.every((b) => b.TargetOriginId === distribution.DefaultCacheBehavior.TargetOriginId));
    const policyTtl = (ref: unknown) => {
      const id = (ref as { Ref: string }).Ref;
      return (template.toJSON().Resources[id].Properties.CachePolicyConfig as { MaxTTL: number }).MaxTTL;
    };
    assert.equal(policyTtl(distribution.DefaultCacheBehavior.CachePolicyId), 365 * 86400, 'recording segments: the long segment policy');
    assert.equal(policyTtl(distribution.CacheBehaviors[0]!.CachePolicyId), 86400, 'recording playlists: the origin\'s max-age (a day for vod.m3u8) is honoured');
    assert.ok(policyTtl(distribution.CacheBehaviors[1]!.CachePolicyId) <= 2, 'live playlists: the ~1 s policy');
    template.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({ CorsConfig: Match.objectLike({ AccessControlAllowOrigins: { Items: ['*'] } }) }),
    });
  });

  it('the bucket policy lets only this distribution read, through OAC (service principal + SourceArn)', () => {
    const policies = resourcesOf('AWS::S3::BucketPolicy').filter((p) => JSON.stringify(p.Properties.Bucket).includes('HlsDeliveryHls'));
    assert.equal(policies.length, 1);
    const statements = (policies[0]!.Properties.PolicyDocument as { Statement: { Effect: string; Principal?: { Service?: string }; Action: string; Condition?: unknown; Resource: unknown }[] }).Statement;
    const reads = statements.filter((st) => st.Effect === 'Allow');
    assert.equal(reads.length, 1);
    assert.equal(reads[0]!.Principal?.Service, 'cloudfront.amazonaws.com');
    assert.deepEqual([reads[0]!.Action].flat(), ['s3:GetObject']);
    assert.match(JSON.stringify(reads[0]!.Condition), /AWS:SourceArn.*distribution\//);
  });
});

describe('IAM least privilege', () => {
  /** Every statement of every IAM policy in the template (policies, roles' inline and managed policies). */
  function allStatements(): { where: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
    const out: { where: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[] = [];
    for (const [id, r] of Object.entries(template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>)) {
      const docs: unknown[] = [];
      if (['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].includes(r.Type)) docs.push(r.Properties.PolicyDocument);
      if (r.Type === 'AWS::IAM::Role') for (const p of (r.Properties.Policies as { PolicyDocument: unknown }[] | undefined) ?? []) docs.push(p.PolicyDocument);
      for (const d of docs) for (const st of (d as { Statement: never[] }).Statement) out.push({ where: id, ...(st as object) } as never);
    }
    return out;
  }
  const DATA = /^(s3:(Get|Put|Delete)Object|s3:AbortMultipartUpload|dynamodb:|sqs:)/;

  it('no * action anywhere, and no * resource on data (S3 objects, DynamoDB, SQS); S3 object ARNs carry a prefix', () => {
    const statements = allStatements();
    assert.ok(statements.length > 10);
    for (const st of statements.filter((x) => x.Effect === 'Allow')) {
      for (const a of [st.Action].flat()) assert.ok(a !== '*' && !a.endsWith(':*'), `${st.where}: wildcard action ${a}`);
      if (![st.Action].flat().some((a) => DATA.test(a))) continue;
      for (const r of [st.Resource].flat()) {
        const text = JSON.stringify(r);
        assert.notEqual(r, '*', `${st.where}: * resource on ${st.Action}`);
        if ([st.Action].flat().some((a) => a.startsWith('s3:'))) assert.match(text, /"\/(live|recordings)\//, `${st.where}: S3 objects without a prefix: ${text}`);
      }
    }
  });

  it('the recording indexer: read recordings, write only vod.m3u8, Put/Update/Query only stream partitions', () => {
    const st = statementsOfRole('OperationsRecordingIndexerServiceRole') as { Action: string | string[]; Resource: unknown; Condition?: unknown }[];
    const dynamo = st.filter((s) => actions(s).some((a) => a.startsWith('dynamodb:')));
    assert.equal(dynamo.length, 1);
    assert.deepEqual(actions(dynamo[0]!).sort(), ['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    assert.deepEqual(dynamo[0]!.Condition, { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['STREAM#*'] } });
    const s3 = st.filter((s) => actions(s).some((a) => a.startsWith('s3:')));
    assert.deepEqual(s3.map((s) => [actions(s).join(), JSON.stringify(s.Resource).match(/\/recordings[^"]*/)![0]]).sort(),
      [['s3:GetObject', '/recordings/*'], ['s3:PutObject', '/recordings/*/vod.m3u8']]);
  });

  it('the stream-keys Lambda: exactly what StreamKeyStore calls, writes only in stream partitions', () => {
    const st = statementsOfRole('StreamKeysHandlerServiceRole') as { Action: string | string[]; Resource: unknown; Condition?: unknown }[];
    const all = st.flatMap(actions).filter((a) => a.startsWith('dynamodb:')).sort();
    assert.deepEqual(all, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:UpdateItem']);
    const writes = st.find((s) => actions(s).includes('dynamodb:PutItem'))!;
    assert.deepEqual(actions(writes).sort(), ['dynamodb:PutItem', 'dynamodb:UpdateItem']);
    assert.deepEqual(writes.Condition, { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['STREAM#*'] } });
    const reads = st.find((s) => actions(s).includes('dynamodb:Scan'))!;
    assert.match(JSON.stringify(reads.Resource), /index\/keyHash-index/);
    assert.doesNotMatch(JSON.stringify(st), /index\/\*/);
  });
});

describe('stream keys', () => {
  it('the streams table: pk/sk, keyHash-index GSI, on demand, point-in-time recovery, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'keyHash-index', KeySchema: [{ AttributeName: 'keyHash', KeyType: 'HASH' }] })],
      }),
    });
  });

  it('the HTTP API routes /streams to the Lambda with IAM authorization only', () => {
    const routes = resourcesOf('AWS::ApiGatewayV2::Route');
    assert.deepEqual(routes.map((r) => r.Properties.RouteKey).sort(), ['ANY /streams', 'ANY /streams/{proxy+}']);
    for (const r of routes) assert.equal(r.Properties.AuthorizationType, 'AWS_IAM');
  });
});

describe('Lambdas and operations', () => {
  it('every Lambda of ours runs Node.js 24 on ARM with a log group that has a retention', () => {
    const functions = resourcesOf('AWS::Lambda::Function').filter((f) => String(f.Properties.Description ?? '').startsWith('Bridgecast'));
    assert.equal(functions.length, 3);
    for (const f of functions) {
      assert.equal(f.Properties.Runtime, 'nodejs24.x');
      assert.deepEqual(f.Properties.Architectures, ['arm64']);
      assert.ok(f.Properties.LoggingConfig, 'an explicit log group');
    }
    for (const g of resourcesOf('AWS::Logs::LogGroup')) assert.ok(g.Properties.RetentionInDays, 'log groups expire');
  });

  it('each Lambda bundle carries its own AWS SDK (the version package-lock.json pins), not the runtime\'s', () => {
    const assets = JSON.parse(readFileSync(path.join(assembly.dir, 'Bridgecast.assets.json'), 'utf8')) as { files: Record<string, { source: { path: string } }> };
    const ours = resourcesOf('AWS::Lambda::Function').filter((f) => String(f.Properties.Description ?? '').startsWith('Bridgecast'));
    for (const f of ours) {
      const hash = (f.Properties.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '');
      const bundle = readFileSync(path.join(assembly.dir, assets.files[hash]!.source.path, 'index.js'), 'utf8');
      // signature-v4-crt / signature-v4a: the SDK's own optional SigV4a modules (guarded require, error text), absent from the runtime too.
      assert.doesNotMatch(bundle, /require\(["']@aws-sdk\/(?!signature-v4-crt|signature-v4a)/, `${String(f.Properties.Description)}: an external @aws-sdk import`);
      assert.match(bundle, /@aws-sdk\/client-dynamodb|DynamoDBClient/, 'the SDK is in the bundle');
    }
  });

  it('the autoscaler runs every minute and may only describe and update the media service', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
    const ecs = statementsOfRole('OperationsAutoscalerServiceRole').filter((s) => actions(s).some((a) => a.startsWith('ecs:')));
    assert.equal(ecs.length, 1);
    assert.deepEqual(actions(ecs[0]!).sort(), ['ecs:DescribeServices', 'ecs:UpdateService']);
    assert.match(JSON.stringify(ecs[0]!.Resource), /MediaService/);
  });

  it('recording events flow S3 → SQS (with a dead-letter queue) → the indexer, only for segments and end.json, reporting partial batch failures', () => {
    const filter = (suffix: string) => Match.objectLike({ Events: ['s3:ObjectCreated:*'], Filter: { Key: { FilterRules: [{ Name: 'suffix', Value: suffix }, { Name: 'prefix', Value: 'recordings/' }] } } });
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: { QueueConfigurations: [filter('.ts'), filter('/end.json')] },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.objectLike({ maxReceiveCount: 5 }), VisibilityTimeout: 360 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionResponseTypes: ['ReportBatchItemFailures'], BatchSize: 10 });
  });

  it('outputs where to publish, watch and manage keys', () => {
    const outputs = Object.keys(template.findOutputs('*'));
    for (const name of ['RtmpEndpoint', 'KcpEndpoint', 'FlvBaseUrl', 'ApiUrl', 'HlsBaseUrl', 'BucketName', 'TableName']) {
      assert.ok(outputs.includes(name), `output ${name}`);
    }
    const value = (name: string) => JSON.stringify(template.findOutputs(name)[name]!.Value);
    assert.match(value('RtmpEndpoint'), /rtmp:\/\/.*:1935\/live/);
    assert.match(value('KcpEndpoint'), /kcp:\/\/.*:1936\/live/, 'KCP has its own UDP port in AWS');
    assert.match(value('KcpEndpoint'), /\?fec=10:3/, 'the port has FEC (kcpFec 10,3): a client without it never connects');
  });
});

describe('cfn-lint', () => {
  const cfnLint = ['/root/.pyenv/shims/cfn-lint', '/usr/local/bin/cfn-lint', '/usr/bin/cfn-lint'].find(existsSync);
  it('finds no errors in the synthesized template', { skip: cfnLint ? false : 'cfn-lint is not installed' }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-cfn-'));
    try {
      const file = path.join(dir, 'Bridgecast.template.json');
      await writeFile(file, JSON.stringify(template.toJSON()));
      // Warnings (W…) are advice about CDK's own output; errors (E…) fail.
      const result = spawnSync(cfnLint!, ['--format', 'parseable', '--regions', 'ap-northeast-2', '--', file], { encoding: 'utf8' });
      assert.ok(result.status !== null && !result.error, `cfn-lint ran: ${result.error?.message ?? result.stderr}`);
      const errors = result.stdout.split('\n').filter((line) => /:E\d{4}:/.test(line));
      assert.deepEqual(errors, []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
