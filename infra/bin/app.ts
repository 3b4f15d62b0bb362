import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BridgecastStack, DEFAULT_PARAMETERS, type BridgecastParameters } from '../lib/bridgecast-stack.js';
import { EdgeWafStack } from '../lib/edge-waf-stack.js';

/**
 * `npx cdk deploy` entry. Parameters come from context (cdk.json or
 * `-c maxTasks=20`), the region from `-c region=...` (default
 * ap-northeast-2, Seoul, next to the broadcasters), the account from the
 * deploying credentials (the CLI sets CDK_DEFAULT_ACCOUNT).
 */
export function buildApp(app = new App()): { app: App; stack: BridgecastStack; edgeWaf?: EdgeWafStack } {
  const context = (name: keyof BridgecastParameters) => app.node.tryGetContext(name) as string | number | undefined;
  const parameters = { ...DEFAULT_PARAMETERS };
  for (const name of Object.keys(DEFAULT_PARAMETERS) as (keyof BridgecastParameters)[]) {
    const value = context(name);
    if (value === undefined) continue;
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0) throw new Error(`context ${name} must be a non-negative integer, got "${value}"`);
    (parameters as Record<string, unknown>)[name] = number;
  }
  const zones = context('availabilityZones');
  if (typeof zones === 'string') parameters.availabilityZones = zones.split(',').map((z) => z.trim()).filter(Boolean);
  for (const name of ['hlsDomainName', 'hlsCertificateArn', 'tlsCertificateArn', 'mediaDomainName', 'webAclArn'] as const) {
    const value = context(name);
    if (typeof value === 'string' && value) parameters[name] = value;
  }
  // `-c privatePlayback=true` arrives as a string, cdk.json may hold a boolean.
  parameters.privatePlayback = String(context('privatePlayback') ?? 'false') === 'true';
  for (const name of ['playbackPublicKeys', 'appOrigins'] as const) {
    const value = context(name);
    if (typeof value === 'string' && value) parameters[name] = value.split(',').map((v) => v.trim()).filter(Boolean);
  }
  const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? 'Bridgecast';
  // `-c edgeWaf=true`: also the us-east-1 stack with the CDN's rate-based web ACL (deploy it first, then pass its ARN).
  const edgeWaf = String(app.node.tryGetContext('edgeWaf') ?? 'false') === 'true'
    ? new EdgeWafStack(app, `${stackName}EdgeWaf`, {
      env: { account: process.env.CDK_DEFAULT_ACCOUNT },
      ratePerFiveMinutes: Number(app.node.tryGetContext('edgeWafRateLimit') ?? 2000),
      description: 'Bridgecast: rate-based AWS WAF web ACL for the HLS CloudFront distribution (us-east-1, as CloudFront requires)',
    })
    : undefined;
  const stack = new BridgecastStack(app, stackName, {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: (app.node.tryGetContext('region') as string | undefined) ?? 'ap-northeast-2' },
    parameters,
    description: 'Bridgecast: live streaming across bad networks (RTMP, RTMP over KCP, HLS via CloudFront)',
  });
  // cdk-nag's AWS Solutions rules run at synth; an unacknowledged finding fails it.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack, ...(edgeWaf ? { edgeWaf } : {}) };
}

if (process.argv[1]?.endsWith('app.ts')) buildApp().app.synth();
