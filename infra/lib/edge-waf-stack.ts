import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';

/** WAF's bounds for a rate-based rule's limit (requests per 5-minute window per key). */
export const RATE_LIMIT_BOUNDS = { min: 10, max: 2_000_000_000 };

export interface EdgeWafStackProps extends StackProps {
  /** Requests per 5 minutes per client IP before WAF blocks that IP for a while. */
  ratePerFiveMinutes: number;
}

/**
 * The optional web ACL for the CDN: one rate-based rule per client IP.
 * A web ACL for CloudFront must live in us-east-1 with scope CLOUDFRONT,
 * whatever region the distribution's stack is in, so this is a stack of its
 * own pinned to us-east-1; the main stack takes its ARN (`-c webAclArn`)
 * instead of a cross-region reference, which would add custom-resource
 * Lambdas and SSM parameters in both regions.
 * https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works-resources.html
 */
export class EdgeWafStack extends Stack {
  readonly webAclArn: string;

  constructor(scope: Construct, id: string, props: EdgeWafStackProps) {
    super(scope, id, { ...props, env: { account: props.env?.account, region: 'us-east-1' } });
    const { min, max } = RATE_LIMIT_BOUNDS;
    if (!Number.isInteger(props.ratePerFiveMinutes) || props.ratePerFiveMinutes < min || props.ratePerFiveMinutes > max) {
      throw new Error(`edgeWafRateLimit must be an integer from ${min} to ${max} (requests per 5 minutes per IP)`);
    }
    const visibility = (metricName: string) => ({ sampledRequestsEnabled: true, cloudWatchMetricsEnabled: true, metricName });
    const acl = new CfnWebACL(this, 'RateLimit', {
      scope: 'CLOUDFRONT',
      description: 'Bridgecast CDN: blocks a client IP that exceeds the request rate',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('bridgecast-edge'),
      rules: [{
        name: 'per-ip-rate',
        priority: 0,
        action: { block: {} },
        statement: { rateBasedStatement: { limit: props.ratePerFiveMinutes, aggregateKeyType: 'IP' } },
        visibilityConfig: visibility('bridgecast-per-ip-rate'),
      }],
    });
    this.webAclArn = acl.attrArn;
    new CfnOutput(this, 'WebAclArn', { value: acl.attrArn, description: 'Pass to the main stack: npx cdk deploy <stack> -c webAclArn=<this>' });
  }
}
