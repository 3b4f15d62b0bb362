/**
 * The stack with private playback, TLS on the NLB and a web ACL
 * (`-c privatePlayback=true -c tlsCertificateArn=... -c webAclArn=...`),
 * synthesized offline with cdk-nag's rules and checked by cfn-lint: every
 * CloudFront behaviour trusts the key group (CloudFront then refuses
 * requests without signed cookies), the app's origin gets credentialed
 * CORS, the signing key is a Secrets Manager secret only the keys API may
 * read and never a template value, and the NLB gets RTMPS and HTTPS
 * listeners. Parameter combinations that cannot work are refused with the fix.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '@bridgecast/infra/bin/app.js';
import { DEFAULT_PARAMETERS, validateParameters } from '@bridgecast/infra/lib/bridgecast-stack.js';

type Resource = { Properties: Record<string, unknown> };

const cfnLint = ['/root/.pyenv/shims/cfn-lint', '/usr/local/bin/cfn-lint', '/usr/bin/cfn-lint'].find(existsSync);

/** cfn-lint's errors (E…) for a template in `region`; warnings are advice about CDK's own output. */
async function lintErrors(t: Template, region: string): Promise<string[]> {
  const file = path.join(dir, `lint-${region}.template.json`);
  await writeFile(file, JSON.stringify(t.toJSON()));
  // `--` ends --regions, which takes several values and would take the file name as one.
  const result = spawnSync(cfnLint!, ['--format', 'parseable', '--regions', region, '--', file], { encoding: 'utf8' });
  assert.ok(result.status !== null && !result.error, `cfn-lint ran: ${result.error?.message ?? result.stderr}`);
  return result.stdout.split('\n').filter((line) => /:E\d{4}:/.test(line));
}

let dir: string;
let template: Template;
const resourcesOf = (type: string) => Object.entries(template.findResources(type)) as [string, Resource][];

const CONTEXT = {
  privatePlayback: 'true',
  hlsDomainName: 'video.news.example',
  hlsCertificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/11111111-2222-3333-4444-555555555555',
  appOrigins: 'https://news.example',
  tlsCertificateArn: 'arn:aws:acm:ap-northeast-2:111122223333:certificate/66666666-7777-8888-9999-000000000000',
  mediaDomainName: 'media.news.example',
  webAclArn: 'arn:aws:wafv2:us-east-1:111122223333:global/webacl/bridgecast-rate/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
};

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-keys-'));
  const files = [];
  for (const name of ['current', 'next']) {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = path.join(dir, `${name}.pub.pem`);
    await writeFile(file, publicKey.export({ type: 'spki', format: 'pem' }));
    files.push(file);
  }
  const { app, stack } = buildApp(new App({ context: { ...CONTEXT, playbackPublicKeys: files.join(',') } }));
  app.synth(); // cdk-nag: any unacknowledged finding throws
  template = Template.fromStack(stack!);
});

after(() => rm(dir, { recursive: true, force: true }));

describe('private playback on CloudFront', () => {
  it('every behaviour trusts the key group of both public keys (a rotation in progress)', () => {
    const [[groupId, group]] = resourcesOf('AWS::CloudFront::KeyGroup') as [[string, Resource]];
    const items = (group.Properties.KeyGroupConfig as { Items: unknown[] }).Items;
    assert.equal(items.length, 2);
    assert.equal(resourcesOf('AWS::CloudFront::PublicKey').length, 2);
    const config = resourcesOf('AWS::CloudFront::Distribution')[0]![1].Properties.DistributionConfig as {
      DefaultCacheBehavior: { TrustedKeyGroups?: unknown[] }; CacheBehaviors: { PathPattern: string; TrustedKeyGroups?: unknown[] }[];
    };
    const behaviours = [config.DefaultCacheBehavior, ...config.CacheBehaviors];
    assert.equal(behaviours.length, 3, 'segments, recording playlists, live playlists');
    for (const b of behaviours) assert.deepEqual(b.TrustedKeyGroups, [{ Ref: groupId }], JSON.stringify(b).slice(0, 80));
  });

  it('credentialed CORS for the app\'s origin only, and the web ACL attached', () => {
    const policy = resourcesOf('AWS::CloudFront::ResponseHeadersPolicy')[0]![1].Properties.ResponseHeadersPolicyConfig as {
      CorsConfig: { AccessControlAllowCredentials: boolean; AccessControlAllowOrigins: { Items: string[] }; AccessControlAllowHeaders: { Items: string[] } };
    };
    assert.equal(policy.CorsConfig.AccessControlAllowCredentials, true);
    assert.deepEqual(policy.CorsConfig.AccessControlAllowOrigins.Items, ['https://news.example']);
    assert.ok(!policy.CorsConfig.AccessControlAllowHeaders.Items.includes('*'), 'no wildcard with credentials');
    const config = resourcesOf('AWS::CloudFront::Distribution')[0]![1].Properties.DistributionConfig as { WebACLId?: string };
    assert.equal(config.WebACLId, CONTEXT.webAclArn);
  });

  it('the signing key is a secret only the keys API reads; the template holds no private key, the tasks get public keys', () => {
    const [[secretId]] = resourcesOf('AWS::SecretsManager::Secret') as [[string, Resource]];
    const json = JSON.stringify(template.toJSON());
    assert.doesNotMatch(json, /PRIVATE KEY/);
    const keysLambda = resourcesOf('AWS::Lambda::Function').find(([, f]) => String(f.Properties.Description).includes('stream keys'))![1];
    const env = (keysLambda.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    assert.deepEqual(env.PLAYBACK_SIGNING_SECRET_ARN, { Ref: secretId }, 'the ARN, resolved at deploy time; not the value');
    assert.match(JSON.stringify(env.PLAYBACK_PUBLIC_KEYS), /BEGIN PUBLIC KEY/);
    assert.equal(env.RTMPS_PORT, '443');
    // Readers of the signing key's secret (the task's execution role reads another one, the relay secret between tasks).
    const readers = resourcesOf('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes('secretsmanager:GetSecretValue')
        && JSON.stringify(p.Properties.PolicyDocument).includes(JSON.stringify({ Ref: secretId })))
      .map(([, p]) => JSON.stringify(p.Properties.Roles));
    assert.equal(readers.length, 1);
    assert.match(readers[0]!, /StreamKeysHandler/);
    const task = resourcesOf('AWS::ECS::TaskDefinition')[0]![1].Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[];
    const taskEnv = Object.fromEntries(task[0]!.Environment.map((e) => [e.Name, e.Value]));
    assert.match(JSON.stringify(taskEnv.PLAYBACK_PUBLIC_KEYS), /BEGIN PUBLIC KEY/);
    assert.equal(taskEnv.FLV_BASE_URL, 'https://media.news.example:8443', 'playback URLs become https');
    assert.equal(taskEnv.PUBLIC_HOST, 'media.news.example');
  });
});

describe('TLS on the NLB', () => {
  it('RTMPS on 443 and HTTPS on 8443 with the certificate and a TLS 1.2+ policy, forwarding to the tasks\' RTMP and HTTP ports; access logs on', () => {
    const listeners = resourcesOf('AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => l.Properties);
    const tls = listeners.filter((l) => l.Protocol === 'TLS');
    assert.deepEqual(tls.map((l) => l.Port).sort(), [443, 8443]);
    for (const l of tls) {
      assert.deepEqual(l.Certificates, [{ CertificateArn: CONTEXT.tlsCertificateArn }]);
      assert.match(String(l.SslPolicy), /TLS13-1-2/);
    }
    const groups = Object.fromEntries(resourcesOf('AWS::ElasticLoadBalancingV2::TargetGroup').map(([id, g]) => [id, g.Properties]));
    const target = (l: Record<string, unknown>) => groups[((l.DefaultActions as { TargetGroupArn: { Ref: string } }[])[0]!.TargetGroupArn.Ref)]!;
    const rtmps = target(tls.find((l) => l.Port === 443)!);
    assert.deepEqual([rtmps.Protocol, rtmps.Port], ['TCP', 1935], 'RTMPS to the RTMP port over TCP');
    const https = target(tls.find((l) => l.Port === 8443)!);
    assert.deepEqual([https.Protocol, https.Port], ['TCP', 8080]);
    // An NLB writes access logs for TLS listeners only; with them, they are on.
    const nlb = resourcesOf('AWS::ElasticLoadBalancingV2::LoadBalancer')[0]![1].Properties.LoadBalancerAttributes as { Key: string; Value: string }[];
    assert.ok(nlb.some((a) => a.Key === 'access_logs.s3.enabled' && a.Value === 'true'));
    // ECS attaches at most five target groups to a service; the HTTPS listener reuses the HTTP-FLV group.
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/register-multiple-targetgroups.html
    const service = resourcesOf('AWS::ECS::Service')[0]![1].Properties.LoadBalancers as { ContainerPort: number }[];
    assert.deepEqual(service.map((l) => l.ContainerPort).sort(), [1935, 1936, 8080], 'the TLS listeners share the RTMP and HTTP-FLV groups');
    assert.ok(service.length <= 5);
    const ingress = resourcesOf('AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('MediaNlbSecurityGroup'))![1].Properties.SecurityGroupIngress as { IpProtocol: string; FromPort: number }[];
    assert.deepEqual(ingress.map((r) => `${r.IpProtocol}/${r.FromPort}`).sort(), ['tcp/1935', 'tcp/443', 'tcp/8080', 'tcp/8443', 'udp/1936']);
  });
});

describe('parameters that cannot work are refused', () => {
  const base = { ...DEFAULT_PARAMETERS };
  const keys = { playbackPublicKeys: ['k.pem'], appOrigins: ['https://news.example'] };
  it('privatePlayback needs a domain for the cookies, keys and the app\'s origins', () => {
    assert.throws(() => validateParameters({ ...base, privatePlayback: true, ...keys }, 'ap-northeast-2'), /needs hlsDomainName/);
    assert.throws(() => validateParameters({ ...base, privatePlayback: true, hlsDomainName: 'v.example', appOrigins: keys.appOrigins }, 'ap-northeast-2'), /playbackPublicKeys/);
    assert.throws(() => validateParameters({ ...base, privatePlayback: true, hlsDomainName: 'v.example', ...keys, appOrigins: ['*'] }, 'ap-northeast-2'), /not an https origin/);
    assert.throws(() => validateParameters({ ...base, privatePlayback: true, hlsDomainName: 'v.example', ...keys, playbackPublicKeys: ['a', 'b', 'c'] }, 'ap-northeast-2'), /at most two/);
  });
  it('the NLB certificate must be in the stack\'s region and name a domain; the web ACL must be CLOUDFRONT scope (us-east-1)', () => {
    assert.throws(() => validateParameters({ ...base, tlsCertificateArn: CONTEXT.tlsCertificateArn }, 'ap-northeast-2'), /mediaDomainName/);
    assert.throws(() => validateParameters({ ...base, tlsCertificateArn: CONTEXT.hlsCertificateArn, mediaDomainName: 'm.example' }, 'ap-northeast-2'), /in ap-northeast-2/);
    assert.throws(() => validateParameters({ ...base, webAclArn: 'arn:aws:wafv2:ap-northeast-2:111122223333:regional/webacl/x/aaaaaaaa-bbbb' }, 'ap-northeast-2'), /CLOUDFRONT-scope/);
    validateParameters({ ...base, tlsCertificateArn: CONTEXT.tlsCertificateArn, mediaDomainName: 'm.example', webAclArn: CONTEXT.webAclArn }, 'ap-northeast-2');
  });
});

describe('the optional edge WAF stack (-c edgeWaf=true)', () => {
  let waf: Template;
  before(() => {
    const built = buildApp(new App({ context: { edgeWaf: 'true', edgeWafRateLimit: '1500' } }));
    built.app.synth(); // cdk-nag over both stacks
    assert.equal(built.edgeWaf?.region, 'us-east-1', 'a CLOUDFRONT web ACL can only be made in us-east-1');
    assert.equal(built.stack!.region, 'ap-northeast-2');
    waf = Template.fromStack(built.edgeWaf!);
  });
  it('one CLOUDFRONT-scope web ACL blocking an IP above the rate, default allow', () => {
    waf.resourceCountIs('AWS::WAFv2::WebACL', 1);
    waf.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      DefaultAction: { Allow: {} },
      Rules: [{ Name: 'per-ip-rate', Priority: 0, Action: { Block: {} }, Statement: { RateBasedStatement: { Limit: 1500, AggregateKeyType: 'IP' } }, VisibilityConfig: Match.anyValue() }],
    });
    waf.hasOutput('WebAclArn', {});
  });
  it('a limit outside WAF\'s bounds is refused', () => {
    assert.throws(() => buildApp(new App({ context: { edgeWaf: 'true', edgeWafRateLimit: '5' } })), /edgeWafRateLimit/);
  });
  it('cfn-lint finds no errors in it (us-east-1)', { skip: cfnLint ? false : 'cfn-lint is not installed' }, async () => {
    assert.deepEqual(await lintErrors(waf, 'us-east-1'), []);
  });
});

describe('cfn-lint', () => {
  it('finds no errors in the private-playback + TLS template (ap-northeast-2)', { skip: cfnLint ? false : 'cfn-lint is not installed' }, async () => {
    assert.deepEqual(await lintErrors(template, 'ap-northeast-2'), []);
  });
});
