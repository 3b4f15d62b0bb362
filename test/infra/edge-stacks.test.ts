/**
 * Edge stacks (issue 19, docs/edges.md), synthesized as `cdk deploy` runs
 * them (the CDK CLI, an account id set, no credentials, no Docker; cdk-nag
 * runs as part of synth and fails it on any unacknowledged finding):
 *  - the origin with a Hong Kong edge in one app (`-c edgeRegions=ap-east-1`);
 *  - a China edge on its own (`-c role=edge -c region=cn-northwest-1 ...`).
 * Asserted: the media service's edge contract in the task definition, the
 * relay secret reaching the edge without its value in any template, the
 * China partition's CloudFront rules, and cfn-lint for each stack's region.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import type { CfnTaskDefinition } from 'aws-cdk-lib/aws-ecs';
import { buildApp } from '@bridgecast/infra/bin/app.js';
import { parseEdgeOrigin } from '@bridgecast/infra/lib/edge-stack.js';
import { EDGE_DEPLOYMENTS, REPO_ROOT, sharedAssemblyOf, TEST_ACCOUNT, type CfnTemplate, type MultiStackAssembly } from '../helpers/as-deployed/synth.js';

const CHINA = EDGE_DEPLOYMENTS.chinaEdge;
let hongKong: MultiStackAssembly;
let china: MultiStackAssembly;
let hongKongOrigin: MultiStackAssembly;
const origin = () => hongKong.templates.Bridgecast!;
const hkEdge = () => hongKong.templates['Bridgecast-edge-ap-east-1']!;
const cnEdge = () => china.templates['Bridgecast-edge-cn-northwest-1']!;

type Resource = { Type: string; Properties: Record<string, unknown> };
const resources = (t: CfnTemplate, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type) as [string, Resource][];
const only = (t: CfnTemplate, type: string) => {
  const found = resources(t, type);
  assert.equal(found.length, 1, `one ${type}`);
  return found[0]!;
};
interface Container { Name: string; Environment: { Name: string; Value: unknown }[]; Secrets?: { Name: string; ValueFrom: unknown }[] }
const mediaContainer = (t: CfnTemplate) => (only(t, 'AWS::ECS::TaskDefinition')[1].Properties.ContainerDefinitions as Container[]).find((c) => c.Name === 'media')!;
const envOf = (t: CfnTemplate) => Object.fromEntries(mediaContainer(t).Environment.map((e) => [e.Name, e.Value]));

before(async () => {
  // At once: each is one CLI synthesis (~20 s), shared with aws-constraints.test.ts.
  [hongKong, china, hongKongOrigin] = await Promise.all([
    sharedAssemblyOf(EDGE_DEPLOYMENTS.withHongKongEdge.name, EDGE_DEPLOYMENTS.withHongKongEdge.args),
    sharedAssemblyOf(CHINA.name, CHINA.args),
    sharedAssemblyOf(EDGE_DEPLOYMENTS.hongKongOrigin.name, EDGE_DEPLOYMENTS.hongKongOrigin.args),
  ]);
});

describe('synthesis as `cdk deploy` runs it', () => {
  it('-c edgeRegions=ap-east-1: the origin and an edge stack in ap-east-1; the China edge alone, with nothing of the origin', () => {
    assert.deepEqual(Object.keys(hongKong.templates).sort(), ['Bridgecast', 'Bridgecast-edge-ap-east-1']);
    assert.deepEqual(Object.keys(china.templates), ['Bridgecast-edge-cn-northwest-1']);
    for (const assembly of [hongKong, china]) {
      const manifest = JSON.parse(readFileSync(path.join(assembly.dir, 'manifest.json'), 'utf8')) as {
        missing?: unknown[]; artifacts: Record<string, { type: string; environment?: string }>;
      };
      assert.equal(manifest.missing, undefined, 'no context lookup left for deploy time');
      const environments = Object.values(manifest.artifacts).filter((a) => a.type === 'aws:cloudformation:stack').map((a) => a.environment).sort();
      assert.deepEqual(environments, assembly === china
        ? [`aws://${TEST_ACCOUNT}/cn-northwest-1`]
        : [`aws://${TEST_ACCOUNT}/ap-east-1`, `aws://${TEST_ACCOUNT}/ap-northeast-2`]);
    }
  });

  it('cdk.json targets both partitions (region facts such as service principals are rendered for aws-cn too)', () => {
    const context = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
    assert.deepEqual(context['@aws-cdk/core:target-partitions'], ['aws', 'aws-cn']);
  });

  it('the China edge\'s template names no aws-partition ARN; every ARN is built from AWS::Partition or is arn:aws-cn:', () => {
    const text = JSON.stringify(cnEdge());
    assert.doesNotMatch(text, /arn:aws:/);
    assert.match(text, /"arn:aws-cn:secretsmanager:cn-northwest-1:/, 'the operator\'s secret, in its partition');
    assert.match(text, /AWS::Partition/);
  });
});

describe('the edge contract of the media service (notes: EDGE_ORIGIN, EDGE_ORIGIN_API, EDGE_MODE, EDGE_NAME)', () => {
  it('ap-east-1: pulls from the origin NLB\'s KCP port, lists streams on its HTTP port, every stream, named after its region', () => {
    const env = envOf(hkEdge());
    // The origin's NLB DNS name arrives through CDK's cross-region export reader.
    const imported = (value: unknown) => {
      const parts = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
      const reference = JSON.stringify(parts[1]);
      assert.match(reference, /ExportsReader.*FnGetAttMediaNlb.*DNSName/, `the origin NLB's DNS name: ${reference}`);
      return [parts[0], parts[2]];
    };
    assert.deepEqual(imported(env.EDGE_ORIGIN), ['kcp://', ':1936']);
    assert.deepEqual(imported(env.EDGE_ORIGIN_API), ['http://', ':8080']);
    assert.equal(env.EDGE_MODE, 'all');
    assert.equal(env.EDGE_NAME, 'ap-east-1');
    // The origin's NLB listens for KCP on udp/1936 and for the API on tcp/8080.
    const listeners = resources(origin(), 'AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => `${String(l.Properties.Protocol)}/${String(l.Properties.Port)}`);
    assert.ok(listeners.includes('UDP/1936') && listeners.includes('TCP/8080'), listeners.join());
  });

  it('China: EDGE_ORIGIN is the operator\'s kcp:// URL, EDGE_ORIGIN_API the same host on 8080', () => {
    const env = envOf(cnEdge());
    assert.equal(env.EDGE_ORIGIN, CHINA.origin);
    assert.equal(env.EDGE_ORIGIN_API, 'http://media.news.example:8080');
    assert.equal(env.EDGE_NAME, 'cn-northwest-1');
    assert.equal(env.EDGE_MODE, 'all');
  });

  it('-c edgeMode=on-demand and -c originApi=... reach the task; a malformed origin is refused in one line', () => {
    assert.deepEqual(parseEdgeOrigin('kcp://203.0.113.7:1936', 'https://api.news.example'), { url: 'kcp://203.0.113.7:1936', apiUrl: 'https://api.news.example' });
    assert.deepEqual(parseEdgeOrigin('rtmp://media.news.example:1935'), { url: 'rtmp://media.news.example:1935', apiUrl: 'http://media.news.example:8080' });
    for (const bad of ['media.news.example:1936', 'kcp://media.news.example', 'udp://media.news.example:1936', 'kcp://media.news.example:99999']) {
      assert.throws(() => parseEdgeOrigin(bad), (e: Error) => /^origin must look like kcp:\/\//.test(e.message) && !e.message.includes('\n'), bad);
    }
    const { edges } = buildApp(new App({ context: { ...contextFor(CHINA.args), edgeMode: 'on-demand', 'aws:cdk:bundling-stacks': [] } }));
    const definitions = edges[0]!.resolve((edges[0]!.media.taskDefinition.node.defaultChild as CfnTaskDefinition).containerDefinitions) as { environment: { name: string; value: string }[] }[];
    assert.deepEqual(definitions[0]!.environment.find((e) => e.name === 'EDGE_MODE'), { name: 'EDGE_MODE', value: 'on-demand' });
    assert.throws(() => buildApp(new App({ context: { ...contextFor(CHINA.args), edgeMode: 'sometimes', 'aws:cdk:bundling-stacks': [] } })), /edgeMode must be "all" or "on-demand"/);
  });

  it('KCP_FEC: the edge uses the origin\'s setting (both ends of a KCP link must agree); everything else as an origin task, with its own table and bucket', () => {
    const [edge, originEnv] = [envOf(hkEdge()), envOf(origin())];
    assert.equal(edge.KCP_FEC, '10,3');
    assert.equal(originEnv.KCP_FEC, edge.KCP_FEC);
    assert.equal(envOf(cnEdge()).KCP_FEC, '10,3');
    for (const name of ['KCP_PORT', 'RTMP_PORT', 'HTTP_PORT', 'AUTH', 'DRAIN_SECONDS', 'EMF']) assert.equal(edge[name], originEnv[name], name);
    assert.deepEqual(edge.STREAMS_TABLE, { Ref: only(hkEdge(), 'AWS::DynamoDB::Table')[0] });
    const hlsBucket = resources(hkEdge(), 'AWS::S3::Bucket').find(([, b]) => JSON.stringify(b.Properties.LifecycleConfiguration ?? '').includes('live/'))!;
    assert.deepEqual(edge.HLS_BUCKET, { Ref: hlsBucket[0] });
    assert.deepEqual(edge.METRICS_SERVICE_NAME, 'Bridgecast-edge-ap-east-1-media');
  });
});

describe('the relay secret reaches the edge, its value in no template', () => {
  it('the origin replicates its generated secret to ap-east-1; the edge names the replica by full ARN in its own region', () => {
    const [, secret] = only(origin(), 'AWS::SecretsManager::Secret');
    assert.deepEqual(secret.Properties.ReplicaRegions, [{ Region: 'ap-east-1' }]);
    assert.ok(secret.Properties.GenerateSecretString && !('SecretString' in secret.Properties));
    const valueFrom = mediaContainer(hkEdge()).Secrets!.find((s) => s.Name === 'RELAY_SECRET')!.ValueFrom as { 'Fn::Join': [string, unknown[]] };
    const [head, imported] = valueFrom['Fn::Join'][1] as [unknown, unknown];
    assert.deepEqual(head, 'arn:');
    const text = JSON.stringify(valueFrom);
    assert.match(text, /":secretsmanager:ap-east-1:",\{"Ref":"AWS::AccountId"\},":secret:"/);
    // The primary's "<name>-<suffix>" (7th field of its ARN), imported from the origin's stack.
    assert.match(text, /"Fn::Select":\[6,\{"Fn::Split":\[":",\{"Fn::GetAtt":\["ExportsReader[^"]*","[^"]*RelaySecret/);
    assert.ok(imported !== undefined);
    // Only the execution role may read it, and only that ARN.
    const reads = resources(hkEdge(), 'AWS::IAM::Policy').flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement
      .filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue')).map((s) => ({ roles: JSON.stringify(p.Properties.Roles), resource: s.Resource })));
    assert.equal(reads.length, 1);
    assert.match(reads[0]!.roles, /ExecutionRole/);
    assert.deepEqual(reads[0]!.resource, valueFrom);
  });

  it('China: the operator\'s secret by ARN; no secret resource, no plain RELAY_SECRET, nothing secret-like in any template', () => {
    assert.deepEqual(mediaContainer(cnEdge()).Secrets, [{ Name: 'RELAY_SECRET', ValueFrom: CHINA.relaySecretArn }]);
    assert.equal(resources(cnEdge(), 'AWS::SecretsManager::Secret').length, 0);
    for (const template of [origin(), hkEdge(), cnEdge()]) {
      assert.ok(!mediaContainer(template).Environment.some((e) => /SECRET|KEY$/.test(e.Name) && e.Name !== 'PLAYBACK_PUBLIC_KEYS'), 'no secret in the environment');
      assert.doesNotMatch(JSON.stringify(template), /"SecretString"/);
    }
  });

  it('a relay secret ARN of another region or partition is refused before anything is built', () => {
    const withArn = (arn: string) => () => buildApp(new App({ context: { ...contextFor(CHINA.args), relaySecretArn: arn, 'aws:cdk:bundling-stacks': [] } }));
    assert.throws(withArn('arn:aws:secretsmanager:cn-northwest-1:123456789012:secret:x-AbC123'), /^Error: relaySecretArn must be the full ARN of a secret in cn-northwest-1/);
    assert.throws(withArn('arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-AbC123'), /in cn-northwest-1/);
    assert.throws(withArn('arn:aws-cn:secretsmanager:cn-northwest-1:123456789012:secret:x'), /<name>-<6 characters>/, 'a partial ARN: ECS needs the full one');
  });
});

describe('the edge task can reach the origin, and nothing else is opened', () => {
  it('egress is open (UDP 1936 and TCP 8080 to the origin through the NAT gateway, HTTPS to AWS APIs); ingress only the listener ports', () => {
    for (const template of [hkEdge(), cnEdge()]) {
      const groups = resources(template, 'AWS::EC2::SecurityGroup').filter(([, g]) => String(g.Properties.GroupDescription).startsWith('Bridgecast media'));
      assert.equal(groups.length, 1);
      const group = groups[0]![1].Properties;
      assert.deepEqual(group.SecurityGroupEgress, [{ CidrIp: '0.0.0.0/0', Description: 'Allow all outbound traffic by default', IpProtocol: '-1' }]);
      const ingress = (group.SecurityGroupIngress as { IpProtocol: string; FromPort: number }[]).map((r) => `${r.IpProtocol}/${r.FromPort}`).sort();
      assert.deepEqual(ingress, ['tcp/1935', 'tcp/8080', 'udp/1936']);
      // The tasks are in private subnets: the pull leaves through the NAT gateway.
      assert.equal(resources(template, 'AWS::EC2::NatGateway').length, 1);
    }
  });

  it('the edge task role: the same least privilege as an origin task, on the edge\'s own bucket, table and cluster', () => {
    const statements = resources(hkEdge(), 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties.Roles).includes('MediaTaskTaskRole'))
      .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement);
    assert.deepEqual([...new Set(statements.flatMap((s) => [s.Action].flat()))].sort(), [
      'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'ecs:GetTaskProtection', 'ecs:UpdateTaskProtection',
      's3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject',
    ]);
    assert.doesNotMatch(JSON.stringify(statements), /"\*"/);
  });
});

describe('what an edge has and has not', () => {
  it('its own cluster behind its own NLB (RTMP, KCP, HTTP-FLV), table, bucket and CDN, and the autoscaler; no keys API, no recording indexer', () => {
    for (const template of [hkEdge(), cnEdge()]) {
      const listeners = resources(template, 'AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => `${String(l.Properties.Protocol)}/${String(l.Properties.Port)}`).sort();
      assert.deepEqual(listeners, ['TCP/1935', 'TCP/8080', 'UDP/1936']);
      for (const type of ['AWS::ECS::Service', 'AWS::DynamoDB::Table', 'AWS::CloudFront::Distribution', 'AWS::Events::Rule']) assert.equal(resources(template, type).length, 1, type);
      assert.equal(resources(template, 'AWS::ApiGatewayV2::Api').length, 0);
      assert.equal(resources(template, 'AWS::SQS::Queue').length, 0);
      const ours = resources(template, 'AWS::Lambda::Function').filter(([, f]) => String(f.Properties.Description ?? '').startsWith('Bridgecast'));
      assert.deepEqual(ours.map(([, f]) => String(f.Properties.Description).split(':')[0]), ['Bridgecast autoscaler']);
      const [, service] = only(template, 'AWS::ECS::Service');
      assert.equal(service.Properties.DesiredCount, undefined, 'the autoscaler owns the count, as at the origin');
    }
  });

  it('the edge keeps its segments a day and archives nothing: recordings are the origin\'s', () => {
    const bucket = resources(hkEdge(), 'AWS::S3::Bucket').find(([, b]) => JSON.stringify(b.Properties.LifecycleConfiguration ?? '').includes('live/'))!;
    const rules = (bucket[1].Properties.LifecycleConfiguration as { Rules: { Prefix?: string; ExpirationInDays?: number; Transitions?: unknown }[] }).Rules;
    assert.ok(rules.some((r) => r.Prefix === 'recordings/' && r.ExpirationInDays === 1));
    assert.ok(!rules.some((r) => r.Transitions));
  });
});

describe('CloudFront in the China regions', () => {
  const distribution = (t: CfnTemplate) => only(t, 'AWS::CloudFront::Distribution')[1].Properties.DistributionConfig as Record<string, unknown>;

  it('an origin access identity instead of OAC (no such resource type in cn-northwest-1), the bucket readable only through it', () => {
    assert.equal(resources(cnEdge(), 'AWS::CloudFront::OriginAccessControl').length, 0);
    const [oaiId] = only(cnEdge(), 'AWS::CloudFront::CloudFrontOriginAccessIdentity');
    const origins = distribution(cnEdge()).Origins as { S3OriginConfig: { OriginAccessIdentity: unknown } }[];
    assert.match(JSON.stringify(origins[0]!.S3OriginConfig.OriginAccessIdentity), new RegExp(`origin-access-identity/cloudfront/.*${oaiId}`));
    const allows = resources(cnEdge(), 'AWS::S3::BucketPolicy').flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: { Effect: string; Principal: unknown; Action: unknown }[] }).Statement)
      .filter((s) => s.Effect === 'Allow');
    assert.deepEqual(allows.map((s) => [JSON.stringify(s.Principal).includes(oaiId), s.Action]), [[true, 's3:GetObject']]);
    // Elsewhere the edge uses OAC like the origin.
    assert.equal(resources(hkEdge(), 'AWS::CloudFront::OriginAccessControl').length, 1);
  });

  it('the custom domain with an IAM server certificate (China has no ACM for CloudFront), SNI, TLS 1.2; no web ACL (WAF is regional only there)', () => {
    const config = distribution(cnEdge());
    assert.deepEqual(config.Aliases, [CHINA.hlsDomainName]);
    assert.deepEqual(config.ViewerCertificate, { IamCertificateId: CHINA.hlsIamCertificateId, SslSupportMethod: 'sni-only', MinimumProtocolVersion: 'TLSv1.2_2021' });
    assert.equal(config.WebACLId, undefined);
    const hls = JSON.stringify(envOf(cnEdge()).HLS_BASE_URL);
    assert.equal(hls, JSON.stringify(`https://${CHINA.hlsDomainName}`), 'the app is handed the ICP-recorded domain, never *.cloudfront.cn');
  });

  it('refuses to synthesize a China edge without the domain and certificate, in one line naming both', () => {
    for (const missing of ['hlsDomainName', 'hlsIamCertificateId']) {
      const context = { ...contextFor(CHINA.args), 'aws:cdk:bundling-stacks': [] } as Record<string, unknown>;
      delete context[missing];
      assert.throws(() => buildApp(new App({ context })), (e: Error) =>
        e.message.startsWith('an edge in cn-northwest-1 needs -c hlsDomainName=<ICP-recorded domain> -c hlsIamCertificateId=<IAM server certificate id>') && !e.message.includes('\n'), missing);
    }
  });

  it('outside China an edge takes no custom CDN domain or IAM certificate (it would hand out a name its CloudFront does not serve)', () => {
    const context: Record<string, unknown> = { ...contextFor(CHINA.args), region: 'ap-southeast-1', relaySecretArn: 'arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:relay-AbC123', 'availabilityZones': 'ap-southeast-1a,ap-southeast-1b', 'aws:cdk:bundling-stacks': [] };
    assert.throws(() => buildApp(new App({ context })), /^Error: hlsDomainName and hlsIamCertificateId on an edge are for the China regions/);
    const { hlsDomainName: _domain, hlsIamCertificateId: _certificate, ...plain } = context;
    assert.equal(buildApp(new App({ context: plain })).edges[0]!.region, 'ap-southeast-1', 'without them an edge deploys alone in any region');
  });

  it('a China region in edgeRegions is refused: no reference can cross partitions', () => {
    assert.throws(() => buildApp(new App({ context: { edgeRegions: 'ap-east-1,cn-northwest-1', 'aws:cdk:bundling-stacks': [] } })),
      /^Error: edgeRegions: cn-northwest-1 is in the aws-cn partition .* -c role=edge -c region=cn-northwest-1/);
  });
});

describe('cfn-lint for each stack\'s region', () => {
  const cfnLint = ['/root/.pyenv/shims/cfn-lint', '/usr/local/bin/cfn-lint', '/usr/bin/cfn-lint'].find(existsSync);
  const lint = async (template: CfnTemplate, region: string): Promise<string[]> => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-cfn-'));
    try {
      const file = path.join(dir, 'template.json');
      await writeFile(file, JSON.stringify(template));
      const result = spawnSync(cfnLint!, ['--format', 'parseable', '--regions', region, '--', file], { encoding: 'utf8' });
      assert.ok(result.status !== null && !result.error, `cfn-lint ran: ${result.error?.message ?? result.stderr}`);
      // Warnings (W…) are advice about CDK's own output; errors (E…) fail.
      return result.stdout.split('\n').filter((line) => /:E\d{4}:/.test(line));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  it('no errors: the origin for ap-northeast-2, its edge for ap-east-1, the China edge for cn-northwest-1', { skip: cfnLint ? false : 'cfn-lint is not installed' }, async () => {
    assert.deepEqual(await lint(origin(), 'ap-northeast-2'), []);
    assert.deepEqual(await lint(hkEdge(), 'ap-east-1'), []);
    assert.deepEqual(await lint(cnEdge(), 'cn-northwest-1'), []);
  });

  it('recipe 1: the origin itself in Hong Kong (-c region=ap-east-1) synthesizes, zones defaulted, no CloudFront logs, cfn-lint clean', { skip: cfnLint ? false : 'cfn-lint is not installed' }, async () => {
    const assembly = hongKongOrigin;
    const template = assembly.templates.Bridgecast!;
    assert.equal(assembly.regions.Bridgecast, 'ap-east-1');
    const zones = new Set(resources(template, 'AWS::EC2::Subnet').map(([, s]) => s.Properties.AvailabilityZone));
    assert.deepEqual([...zones].sort(), ['ap-east-1a', 'ap-east-1b']);
    assert.equal((only(template, 'AWS::CloudFront::Distribution')[1].Properties.DistributionConfig as { Logging?: unknown }).Logging, undefined);
    assert.deepEqual(await lint(template, 'ap-east-1'), []);
  });

  it('and the check can fail: the ap-east-1 edge (OAC) linted for cn-northwest-1 is refused', { skip: cfnLint ? false : 'cfn-lint is not installed' }, async () => {
    const errors = await lint(hkEdge(), 'cn-northwest-1');
    assert.ok(errors.some((e) => e.includes("'AWS::CloudFront::OriginAccessControl' does not exist in 'cn-northwest-1'")), errors.join('\n'));
  });
});

/** `-c name=value` pairs as a context object. */
function contextFor(args: string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const [name, ...value] = args[i + 1]!.split('=');
    context[name!] = value.join('=');
  }
  return context;
}
