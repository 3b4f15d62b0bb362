/**
 * Reading the synthesized template the way CloudFormation would deploy it:
 * every resource gets a physical name (its explicit name if the template
 * gives one, else one derived from the logical id, as CloudFormation does),
 * and Ref / Fn::GetAtt / Fn::Join / Fn::Sub / Fn::Select / pseudo parameters
 * resolve to what they would be in the account. Only what the stack uses is
 * modelled; anything else throws, so a new construct cannot slip past.
 */
import type { CfnTemplate } from './synth.js';

export interface ResolvedTemplate {
  template: CfnTemplate;
  account: string;
  region: string;
  /** Physical name (Ref of most types) of a logical id. */
  nameOf(logicalId: string): string;
  resolve(value: unknown): unknown;
  resolveString(value: unknown): string;
  /** Logical id of the only resource of `type` matching `where`. */
  findOne(type: string, where?: (props: Record<string, unknown>, id: string) => boolean): string;
}

const NAME_PROPERTY: Record<string, string> = {
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::S3::Bucket': 'BucketName',
  'AWS::ECS::Cluster': 'ClusterName',
  'AWS::ECS::Service': 'ServiceName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::SQS::Queue': 'QueueName',
};

export function resolveTemplate(template: CfnTemplate, account: string, region: string): ResolvedTemplate {
  const resources = template.Resources;
  const nameOf = (id: string): string => {
    const r = resources[id];
    if (!r) throw new Error(`no resource ${id}`);
    const explicit = NAME_PROPERTY[r.Type] && r.Properties?.[NAME_PROPERTY[r.Type]!];
    if (typeof explicit === 'string') return explicit;
    // CloudFormation's generated names: <stack>-<logical id>-<suffix>, bucket names lower case.
    const generated = `bridgecast-${id}-x1y2z3`;
    return r.Type === 'AWS::S3::Bucket' ? generated.toLowerCase() : generated;
  };
  const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${account}:${resource}`;

  const ref = (id: string): string => {
    if (id === 'AWS::AccountId') return account;
    if (id === 'AWS::Region') return region;
    if (id === 'AWS::Partition') return 'aws';
    if (id === 'AWS::URLSuffix') return 'amazonaws.com';
    if (id === 'AWS::StackName') return 'Bridgecast';
    const r = resources[id];
    if (!r) throw new Error(`Ref to unknown ${id}`);
    switch (r.Type) {
      case 'AWS::ECS::Service': return getAtt(id, 'ServiceArn');
      case 'AWS::SQS::Queue': return `https://sqs.${region}.amazonaws.com/${account}/${nameOf(id)}`;
      case 'AWS::ElasticLoadBalancingV2::TargetGroup':
      case 'AWS::ElasticLoadBalancingV2::LoadBalancer':
        return arn('elasticloadbalancing', `${r.Type.endsWith('TargetGroup') ? 'targetgroup' : 'loadbalancer/net'}/${id}`);
      default: return nameOf(id);
    }
  };

  const getAtt = (id: string, attribute: string): string => {
    const r = resources[id];
    if (!r) throw new Error(`GetAtt of unknown ${id}`);
    const key = `${r.Type}.${attribute}`;
    switch (key) {
      case 'AWS::DynamoDB::Table.Arn': return arn('dynamodb', `table/${nameOf(id)}`);
      case 'AWS::DynamoDB::Table.StreamArn': return arn('dynamodb', `table/${nameOf(id)}/stream/2026-12-06T00:00:00.000`);
      case 'AWS::S3::Bucket.Arn': return `arn:aws:s3:::${nameOf(id)}`;
      case 'AWS::S3::Bucket.RegionalDomainName': return `${nameOf(id)}.s3.${region}.amazonaws.com`;
      case 'AWS::S3::Bucket.DomainName': return `${nameOf(id)}.s3.amazonaws.com`;
      case 'AWS::ECS::Cluster.Arn': return arn('ecs', `cluster/${nameOf(id)}`);
      case 'AWS::ECS::Service.Name': return nameOf(id);
      case 'AWS::ECS::Service.ServiceArn': {
        const cluster = (r.Properties?.Cluster as { Ref: string }).Ref;
        return arn('ecs', `service/${nameOf(cluster)}/${nameOf(id)}`);
      }
      case 'AWS::IAM::Role.Arn': return `arn:aws:iam::${account}:role/${nameOf(id)}`;
      case 'AWS::Lambda::Function.Arn': return arn('lambda', `function:${nameOf(id)}`);
      case 'AWS::SQS::Queue.Arn': return arn('sqs', nameOf(id));
      case 'AWS::SQS::Queue.QueueName': return nameOf(id);
      case 'AWS::Logs::LogGroup.Arn': return arn('logs', `log-group:${nameOf(id)}:*`);
      case 'AWS::ElasticLoadBalancingV2::LoadBalancer.DNSName': return `${id.toLowerCase()}-0123456789.elb.${region}.amazonaws.com`;
      case 'AWS::CloudFront::Distribution.DomainName': return 'd111111abcdef8.cloudfront.net';
      case 'AWS::CloudFront::Distribution.Id': return 'E2EXAMPLE';
      case 'AWS::ApiGatewayV2::Api.ApiEndpoint': return `https://abcdef1234.execute-api.${region}.amazonaws.com`;
      default: throw new Error(`GetAtt ${key} is not modelled`);
    }
  };

  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [fn, arg] = entries[0]!;
      if (fn === 'Ref') return ref(arg as string);
      if (fn === 'Fn::GetAtt') {
        const [id, attribute] = Array.isArray(arg) ? arg as string[] : String(arg).split('.');
        return getAtt(id!, attribute!);
      }
      if (fn === 'Fn::Join') {
        const [sep, parts] = arg as [string, unknown[]];
        return (resolve(parts) as unknown[]).map(String).join(sep);
      }
      if (fn === 'Fn::Select') {
        const [index, list] = arg as [number, unknown];
        return (resolve(list) as unknown[])[Number(index)];
      }
      if (fn === 'Fn::Split') {
        const [sep, text] = arg as [string, unknown];
        return String(resolve(text)).split(sep);
      }
      if (fn === 'Fn::Sub') {
        const [text, vars] = (Array.isArray(arg) ? arg : [arg, {}]) as [string, Record<string, unknown>];
        return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
          if (name in vars) return String(resolve(vars[name]));
          return name.includes('.') ? getAtt(name.split('.')[0]!, name.split('.').slice(1).join('.')) : ref(name);
        });
      }
      if (fn.startsWith('Fn::')) throw new Error(`${fn} is not modelled`);
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v)]));
  };

  return {
    template, account, region, nameOf, resolve,
    resolveString: (value) => String(resolve(value)),
    findOne(type, where = () => true) {
      const ids = Object.entries(resources).filter(([id, r]) => r.Type === type && where(r.Properties ?? {}, id)).map(([id]) => id);
      if (ids.length !== 1) throw new Error(`expected one ${type}, found ${ids.length}: ${ids.join(', ')}`);
      return ids[0]!;
    },
  };
}

export interface PolicyStatement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** The identity-based statements of a role: its inline policies and every AWS::IAM::Policy attached to it, resolved. */
export function roleStatements(t: ResolvedTemplate, roleId: string): PolicyStatement[] {
  const out: PolicyStatement[] = [];
  const role = t.template.Resources[roleId]!;
  for (const p of (role.Properties?.Policies as { PolicyDocument: { Statement: unknown[] } }[] | undefined) ?? []) {
    out.push(...(t.resolve(p.PolicyDocument.Statement) as PolicyStatement[]));
  }
  for (const r of Object.values(t.template.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const roles = (r.Properties?.Roles as { Ref?: string }[] | undefined) ?? [];
    if (!roles.some((x) => x.Ref === roleId)) continue;
    out.push(...(t.resolve((r.Properties!.PolicyDocument as { Statement: unknown[] }).Statement) as PolicyStatement[]));
  }
  return out;
}
