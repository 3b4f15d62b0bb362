/**
 * Constraints AWS documents (or states in its issue trackers) that
 * CloudFormation only enforces at deploy time and cfn-lint does not check,
 * asserted on the template synthesized as `cdk deploy` runs it. Each rule
 * carries its source. A rule is written over every resource of its kind, so
 * it also holds for resources added later.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { EDGE_DEPLOYMENTS, sharedAssemblyOf, type CfnTemplate } from '../helpers/as-deployed/synth.js';

/** Every stack the suite synthesizes (the origin alone, the origin with a Hong Kong edge, a China edge alone, the origin in Hong Kong), with its region. */
let templates: [string, CfnTemplate, string][];
/** The template a rule is being checked on (each() runs a rule on every one). */
let template: CfnTemplate;
let region: string;
type Props = Record<string, unknown>;
const all = (type: string): [string, Props][] => Object.entries(template.Resources).filter(([, r]) => r.Type === type).map(([id, r]) => [id, r.Properties ?? {}]);
const refOf = (value: unknown) => (value as { Ref?: string }).Ref;

before(async () => {
  const assemblies = await Promise.all([
    sharedAssemblyOf('origin'),
    sharedAssemblyOf(EDGE_DEPLOYMENTS.withHongKongEdge.name, EDGE_DEPLOYMENTS.withHongKongEdge.args),
    sharedAssemblyOf(EDGE_DEPLOYMENTS.chinaEdge.name, EDGE_DEPLOYMENTS.chinaEdge.args),
    sharedAssemblyOf(EDGE_DEPLOYMENTS.hongKongOrigin.name, EDGE_DEPLOYMENTS.hongKongOrigin.args),
  ]);
  templates = assemblies.flatMap((a) => Object.entries(a.templates).map(([name, t]) => [name, t, a.regions[name]!] as [string, CfnTemplate, string]));
});

/** A rule checked on every synthesized template in turn; a failure names the stack. */
function each(rule: () => void): () => void {
  return () => {
    assert.ok(templates.length >= 5);
    for (const [name, t, stackRegion] of templates) {
      template = t;
      region = stackRegion;
      assert.ok(region, `the region of ${name}`);
      try {
        rule();
      } catch (error) {
        (error as Error).message = `${name} (${region}): ${(error as Error).message}`;
        throw error;
      }
    }
  };
}

describe('ECS', () => {
  // "Container port N is used in more than one port mapping": ECS identifies a load-balanced
  // port by container and port number, not protocol; tcp+udp on one port is refused by CreateService.
  // https://github.com/aws/amazon-ecs-agent/issues/3428, https://github.com/aws/containers-roadmap/issues/850
  it('a load-balanced container port is mapped exactly once in its container', each(() => {
    const taskDefs = Object.fromEntries(all('AWS::ECS::TaskDefinition'));
    for (const [id, service] of all('AWS::ECS::Service')) {
      const taskDef = taskDefs[refOf(service.TaskDefinition)!]!;
      for (const lb of (service.LoadBalancers as { ContainerName: string; ContainerPort: number }[] | undefined) ?? []) {
        const container = (taskDef.ContainerDefinitions as { Name: string; PortMappings?: { ContainerPort: number }[] }[]).find((c) => c.Name === lb.ContainerName)!;
        const mappings = (container.PortMappings ?? []).filter((m) => m.ContainerPort === lb.ContainerPort);
        assert.equal(mappings.length, 1, `${id}: container port ${lb.ContainerPort} of ${lb.ContainerName} is mapped ${mappings.length} times`);
      }
    }
  }));

  // Fargate: ephemeral storage 21–200 GiB; a container's stopTimeout at most 120 s.
  // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-storage.html
  // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_timeout
  it('Fargate ephemeral storage within 21–200 GiB and stop timeouts at most 120 s', each(() => {
    for (const [id, t] of all('AWS::ECS::TaskDefinition')) {
      const storage = (t.EphemeralStorage as { SizeInGiB?: number } | undefined)?.SizeInGiB;
      if (storage !== undefined) assert.ok(storage >= 21 && storage <= 200, `${id}: ephemeral storage ${storage} GiB`);
      for (const c of t.ContainerDefinitions as { StopTimeout?: number }[]) {
        if (c.StopTimeout !== undefined) assert.ok(c.StopTimeout >= 2 && c.StopTimeout <= 120, `${id}: stopTimeout ${c.StopTimeout}`);
      }
    }
  }));

  // Fargate task sizes: 2 vCPU takes 4–16 GiB in 1 GiB steps, 4 vCPU 8–30 GiB, 1 vCPU 2–8 GiB, ...
  // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
  it('Fargate CPU and memory form a supported combination', each(() => {
    const ranges: Record<string, [number, number, number]> = { 256: [512, 2048, 512], 512: [1024, 4096, 1024], 1024: [2048, 8192, 1024], 2048: [4096, 16384, 1024], 4096: [8192, 30720, 1024], 8192: [16384, 61440, 4096], 16384: [32768, 122880, 8192] };
    for (const [id, t] of all('AWS::ECS::TaskDefinition')) {
      const range = ranges[String(t.Cpu)];
      assert.ok(range, `${id}: cpu ${String(t.Cpu)}`);
      const memory = Number(t.Memory);
      assert.ok(memory >= range[0] && memory <= range[1] && (memory - range[0]) % range[2] === 0, `${id}: memory ${memory} with cpu ${String(t.Cpu)}`);
    }
  }));

  // Without DesiredCount CloudFormation creates the service with 1 task and leaves the count alone on updates;
  // with it, every stack update resets the count the autoscaler set.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ecs-service.html#cfn-ecs-service-desiredcount
  it('services leave DesiredCount to the autoscaler', each(() => {
    for (const [id, s] of all('AWS::ECS::Service')) assert.equal(s.DesiredCount, undefined, id);
  }));
});

describe('Network Load Balancer', () => {
  const listeners = () => all('AWS::ElasticLoadBalancingV2::Listener');

  // "Access logs are created only if the load balancer has a TLS listener and they contain
  // information only about TLS requests."
  // https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-access-logs.html
  it('access logs are enabled only on a load balancer with a TLS listener', each(() => {
    for (const [id, lb] of all('AWS::ElasticLoadBalancingV2::LoadBalancer')) {
      const logs = ((lb.LoadBalancerAttributes as { Key: string; Value: string }[] | undefined) ?? []).some((a) => a.Key === 'access_logs.s3.enabled' && a.Value === 'true');
      if (!logs) continue;
      assert.ok(listeners().some(([, l]) => refOf(l.LoadBalancerArn) === id && l.Protocol === 'TLS'), `${id}: access logs without a TLS listener are never written`);
    }
  }));

  // One listener per port; to take TCP and UDP on one port the listener is TCP_UDP.
  // https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-listeners.html
  it('no two listeners of a load balancer share a port', each(() => {
    const seen = new Set<string>();
    for (const [id, l] of listeners()) {
      const key = `${refOf(l.LoadBalancerArn)}:${String(l.Port)}`;
      assert.ok(!seen.has(key), `${id}: port ${String(l.Port)} already has a listener`);
      seen.add(key);
    }
  }));

  // Health checks of a TCP, TLS, UDP or TCP_UDP target group use HTTP, HTTPS or TCP (never UDP);
  // interval 5–300 s, thresholds 2–10; the listener protocol must match its target group's.
  // https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html
  it('target-group health checks use a protocol the target group allows, within the documented bounds', each(() => {
    const groups = Object.fromEntries(all('AWS::ElasticLoadBalancingV2::TargetGroup'));
    const allowed: Record<string, string[]> = { TCP: ['HTTP', 'HTTPS', 'TCP'], TLS: ['HTTP', 'HTTPS', 'TCP'], UDP: ['HTTP', 'HTTPS', 'TCP'], TCP_UDP: ['HTTP', 'HTTPS', 'TCP'] };
    for (const [id, g] of Object.entries(groups)) {
      assert.ok(allowed[String(g.Protocol)]?.includes(String(g.HealthCheckProtocol ?? 'TCP')), `${id}: ${String(g.HealthCheckProtocol)} health checks on a ${String(g.Protocol)} group`);
      if (g.HealthCheckIntervalSeconds !== undefined) assert.ok(Number(g.HealthCheckIntervalSeconds) >= 5 && Number(g.HealthCheckIntervalSeconds) <= 300, id);
      for (const key of ['HealthyThresholdCount', 'UnhealthyThresholdCount']) {
        if (g[key] !== undefined) assert.ok(Number(g[key]) >= 2 && Number(g[key]) <= 10, `${id}: ${key}`);
      }
      const delay = ((g.TargetGroupAttributes as { Key: string; Value: string }[] | undefined) ?? []).find((a) => a.Key === 'deregistration_delay.timeout_seconds');
      if (delay) assert.ok(Number(delay.Value) >= 0 && Number(delay.Value) <= 3600, `${id}: deregistration delay`);
    }
    for (const [id, l] of listeners()) {
      for (const action of l.DefaultActions as { TargetGroupArn?: unknown }[]) {
        const group = groups[refOf(action.TargetGroupArn)!];
        if (group) assert.equal(group.Protocol, l.Protocol, `${id}: a ${String(l.Protocol)} listener forwards to a ${String(group.Protocol)} target group`);
      }
    }
  }));
});

describe('S3 and CloudFront', () => {
  // Notification configurations for the same event type must not overlap in prefix and suffix.
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-how-to-filtering.html
  it('bucket notification filters of one event type do not overlap', each(() => {
    for (const [id, n] of all('Custom::S3BucketNotifications')) {
      const configs = ((n.NotificationConfiguration as { QueueConfigurations?: { Events: string[]; Filter?: { Key: { FilterRules: { Name: string; Value: string }[] } } }[] }).QueueConfigurations ?? [])
        .map((c) => ({ events: c.Events, rules: Object.fromEntries((c.Filter?.Key.FilterRules ?? []).map((r) => [r.Name.toLowerCase(), r.Value])) as { prefix?: string; suffix?: string } }));
      const overlaps = (a?: string, b?: string, end = false) => !a || !b || (end ? a.endsWith(b) || b.endsWith(a) : a.startsWith(b) || b.startsWith(a));
      configs.forEach((a, i) => configs.slice(i + 1).forEach((b) => {
        if (!a.events.some((e) => b.events.includes(e))) return;
        assert.ok(!(overlaps(a.rules.prefix, b.rules.prefix) && overlaps(a.rules.suffix, b.rules.suffix, true)), `${id}: ${JSON.stringify(a.rules)} overlaps ${JSON.stringify(b.rules)}`);
      }));
    }
  }));

  // S3 Glacier Instant Retrieval bills objects as at least 128 KB (and lifecycle does not move smaller
  // objects by default): a transition rule must not select smaller objects.
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
  it('Glacier IR transitions select only objects above 128 KB', each(() => {
    for (const [id, b] of all('AWS::S3::Bucket')) {
      for (const rule of ((b.LifecycleConfiguration as { Rules: { Transitions?: { StorageClass: string }[]; ObjectSizeGreaterThan?: string | number }[] } | undefined)?.Rules ?? [])) {
        if (!rule.Transitions?.some((t) => t.StorageClass === 'GLACIER_IR')) continue;
        assert.ok(Number(rule.ObjectSizeGreaterThan) >= 128 * 1024, `${id}: a GLACIER_IR transition without an object-size floor`);
      }
    }
  }));

  // CloudFront caches error responses 10 s unless ErrorCachingMinTTL says otherwise (cache policies do not
  // apply to errors): a playlist that is not there yet must not stay an error longer than a playlist stays cached.
  // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/custom-error-pages-expiration.html
  it('CloudFront keeps 403/404 errors no longer than the playlists\' cache time', each(() => {
    for (const [id, d] of all('AWS::CloudFront::Distribution')) {
      const errors = ((d.DistributionConfig as { CustomErrorResponses?: { ErrorCode: number; ErrorCachingMinTTL?: number }[] }).CustomErrorResponses ?? []);
      for (const code of [403, 404]) {
        const rule = errors.find((e) => e.ErrorCode === code);
        assert.ok(rule && rule.ErrorCachingMinTTL !== undefined && rule.ErrorCachingMinTTL <= 2, `${id}: ${code} cached for the default 10 s`);
      }
    }
  }));
});

describe('Secrets Manager and ECS secrets', () => {
  // ECS takes a Secrets Manager secret by its full ARN only (the name alone only for SSM parameters in the
  // task's region); a replica's ARN is the primary's with its own region, so an edge names its replica
  // with the edge's region in it.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ecs-taskdefinition-secret.html
  // https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html
  it('container secrets name a Secrets Manager secret by full ARN, in the task\'s own region', each(() => {
    for (const [id, t] of all('AWS::ECS::TaskDefinition')) {
      for (const c of t.ContainerDefinitions as { Secrets?: { Name: string; ValueFrom: unknown }[] }[]) {
        for (const secret of c.Secrets ?? []) {
          const text = JSON.stringify(secret.ValueFrom);
          if (typeof secret.ValueFrom === 'string') {
            assert.match(secret.ValueFrom, new RegExp(`^arn:aws(-cn)?:secretsmanager:${region}:\\d{12}:secret:[\\w/+=.@-]+-[A-Za-z0-9]{6}$`), `${id}: ${secret.Name}`);
          } else if (/"Ref":"[A-Za-z0-9]+"/.test(text) && !text.includes('AWS::')) {
            const target = template.Resources[refOf(secret.ValueFrom)!];
            assert.equal(target?.Type, 'AWS::SecretsManager::Secret', `${id}: ${secret.Name} refers to a secret of this stack (its Ref is the full ARN)`);
          } else {
            assert.match(text, new RegExp(`:secretsmanager:${region}:`), `${id}: ${secret.Name} is an ARN in ${region}: ${text}`);
            assert.match(text, /"Fn::Select":\[6,\{"Fn::Split":\[":",/, `${id}: ${secret.Name} keeps the primary's name and suffix`);
          }
        }
      }
    }
  }));

  // A secret cannot be replicated to its own (primary) Region.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-secretsmanager-secret-replicaregion.html
  it('replica regions are other regions than the stack\'s, each once', each(() => {
    for (const [id, secret] of all('AWS::SecretsManager::Secret')) {
      const replicas = ((secret.ReplicaRegions as { Region: string }[] | undefined) ?? []).map((r) => r.Region);
      assert.ok(!replicas.includes(region), `${id}: replicated to its own region ${region}`);
      assert.equal(new Set(replicas).size, replicas.length, `${id}: a region twice`);
    }
  }));
});

describe('CloudFront in either partition', () => {
  // A distribution with Aliases needs its own certificate: ACMCertificateArn or IAMCertificateId (one, not
  // both), with SSLSupportMethod and MinimumProtocolVersion; without Aliases, the default certificate.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-cloudfront-distribution-viewercertificate.html
  it('a distribution with an alternate domain has one certificate of its own, with SNI and a minimum protocol', each(() => {
    for (const [id, d] of all('AWS::CloudFront::Distribution')) {
      const config = d.DistributionConfig as { Aliases?: string[]; ViewerCertificate?: Record<string, unknown> };
      if (!config.Aliases?.length) continue;
      const certificate = config.ViewerCertificate ?? {};
      assert.equal(['AcmCertificateArn', 'IamCertificateId'].filter((k) => certificate[k] !== undefined).length, 1, `${id}: ACM or IAM certificate, exactly one`);
      assert.equal(certificate.SslSupportMethod, 'sni-only', id);
      assert.ok(certificate.MinimumProtocolVersion, id);
    }
  }));

  // "CloudFront doesn't deliver standard logs to buckets in" the opt-in regions (af-south-1, ap-east-1,
  // eu-south-1, me-south-1, ...): a distribution's log bucket in this stack must not be in one. CDK's region
  // facts say which regions are opt-in.
  // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/AccessLogs.html#access-logs-choosing-s3-bucket
  // https://docs.aws.amazon.com/solutions/latest/dynamic-image-transformation-for-amazon-cloudfront/opt-in-regions.html
  it('CloudFront standard logs go to no bucket of an opt-in region', each(() => {
    for (const [id, d] of all('AWS::CloudFront::Distribution')) {
      const logging = (d.DistributionConfig as { Logging?: { Bucket: unknown } }).Logging;
      if (!logging) continue;
      const inThisStack = /"Fn::GetAtt":\["([^"]+)"/.exec(JSON.stringify(logging.Bucket))?.[1];
      if (inThisStack) assert.ok(!RegionInfo.get(region).isOptInRegion, `${id}: logs to a bucket in ${region}, an opt-in region`);
    }
  }));

  // CloudFront in the China regions: no *.cloudfront.cn for content (an ICP-recorded alternate domain is
  // mandatory), no ACM (IAM server certificates only), no Origin Access Control resource type (cfn-lint),
  // and AWS WAF there is regional only (no web ACL on a distribution).
  // https://docs.amazonaws.cn/en_us/aws/latest/userguide/cloudfront.html
  // https://docs.amazonaws.cn/en_us/aws/latest/userguide/waf.html
  it('in China: an alternate domain, an IAM server certificate, no ACM, no web ACL, no OAC', each(() => {
    if (!region.startsWith('cn-')) return;
    for (const [id, d] of all('AWS::CloudFront::Distribution')) {
      const config = d.DistributionConfig as { Aliases?: string[]; ViewerCertificate?: Record<string, unknown>; WebACLId?: unknown };
      assert.ok(config.Aliases?.length, `${id}: no alternate domain`);
      assert.ok(config.ViewerCertificate?.IamCertificateId && !config.ViewerCertificate.AcmCertificateArn, `${id}: not an IAM server certificate`);
      assert.equal(config.WebACLId, undefined, id);
    }
    assert.equal(all('AWS::CloudFront::OriginAccessControl').length, 0);
  }));
});

describe('Lambda and SQS', () => {
  // Node.js 24 is supported until 2028-04-30, 22 only until 2027-04-30 (python3.13, CDK's notification helper, 2029-06-30).
  // https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html#runtimes-supported
  it('Lambda runtimes are supported for at least a year from today', each(() => {
    const deprecation: Record<string, string> = { 'nodejs24.x': '2028-04-30', 'nodejs22.x': '2027-04-30', 'nodejs20.x': '2026-04-30', 'python3.13': '2029-06-30' };
    for (const [id, f] of all('AWS::Lambda::Function')) {
      const date = deprecation[String(f.Runtime)];
      assert.ok(date, `${id}: runtime ${String(f.Runtime)} unknown to this rule`);
      assert.ok(Date.parse(date) - Date.now() > 365 * 86_400_000, `${id}: ${String(f.Runtime)} is deprecated on ${date}`);
    }
  }));

  // An SQS event source: the queue's visibility timeout should be at least six times the function's timeout.
  // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
  it('queues feeding a Lambda have a visibility timeout of at least 6× the function timeout', each(() => {
    const functions = Object.fromEntries(all('AWS::Lambda::Function'));
    const queues = Object.fromEntries(all('AWS::SQS::Queue'));
    for (const [id, m] of all('AWS::Lambda::EventSourceMapping')) {
      const queueId = JSON.stringify(m.EventSourceArn).match(/"Fn::GetAtt":\["([^"]+)"/)?.[1];
      if (!queueId || !queues[queueId]) continue;
      const fn = functions[refOf(m.FunctionName)!]!;
      assert.ok(Number(queues[queueId]!.VisibilityTimeout) >= 6 * Number(fn.Timeout ?? 3), `${id}: visibility timeout`);
    }
  }));
});
