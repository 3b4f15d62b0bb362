import { Validations, type Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * Every cdk-nag (AWS Solutions) finding we accept, with the reason. An
 * unacknowledged finding fails `cdk synth` and the infra tests.
 */
export function applyNagSuppressions(stack: Stack, parts: {
  hlsUsesDefaultCertificate: boolean; mediaTask: Construct; mediaIngress: Construct; cdn: Construct;
  loadBalancerIngress: Construct; playbackSigningKey?: Construct; webAclAttached: boolean;
}): void {
  const acknowledge = (scope: Construct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason });
  acknowledge(stack, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'Grants only CloudWatch Logs writes to the Lambdas (ours and the CDK bucket-notification helper).');
  acknowledge(stack, 'AwsSolutions-L1',
    'Node.js 22 is pinned on purpose: the media service image runs Node 22 too, and AWS SDK v3 requires Node >= 22 from 2027.');
  acknowledge(stack, 'AwsSolutions-IAM5[Resource::*]',
    'cloudwatch:GetMetricData (autoscaler) and the CDK bucket-notification helper support no resource-level permissions.');
  acknowledge(stack, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:${stack.region}:<AWS::AccountId>:task/<MediaClusterC38A5FBC>/*]`,
    'Task scale-in protection: the ECS agent calls Update/GetTaskProtection for the task itself; task ids are not known at deploy time, so the cluster\'s tasks are the narrowest scope.');
  acknowledge(stack, 'AwsSolutions-IAM5[Resource::<HlsDeliveryHls37E96164.Arn>/live/*]',
    'The media service writes live playlists under live/<streamId>/: the prefix is the narrowest scope.');
  acknowledge(stack, 'AwsSolutions-IAM5[Resource::<HlsDeliveryHls37E96164.Arn>/recordings/*]',
    'Segments, recording playlists and end.json live under recordings/<streamId>/<broadcastId>/ (media service writes, indexer reads).');
  acknowledge(stack, 'AwsSolutions-IAM5[Resource::<HlsDeliveryHls37E96164.Arn>/recordings/*/vod.m3u8]',
    'The indexer writes only vod.m3u8 objects, one per broadcast directory.');
  acknowledge(parts.mediaTask, 'AwsSolutions-ECS2',
    'The environment holds only names and URLs (table, bucket, hosts); no secrets (stream keys are hashed in DynamoDB).');
  acknowledge(parts.mediaIngress, 'AwsSolutions-EC23',
    'Public ingest and playback: broadcasters and viewers connect from anywhere on exactly tcp/1935, udp/1935 and tcp/8080.');
  acknowledge(parts.cdn, 'AwsSolutions-CFR1', 'Public news broadcasts: no geo restriction by design; add one per deployment if rights require.');
  acknowledge(parts.loadBalancerIngress, 'AwsSolutions-EC23',
    'The NLB is the public entry: broadcasters and viewers connect from anywhere, on exactly the listener ports.');
  if (!parts.webAclAttached) {
    acknowledge(parts.cdn, 'AwsSolutions-CFR2',
      'Static HLS objects behind OAC; a web ACL (CLOUDFRONT scope, us-east-1) is attached with -c webAclArn=..., see docs/deploy.md.');
  }
  if (parts.playbackSigningKey) {
    acknowledge(parts.playbackSigningKey, 'AwsSolutions-SMG4',
      'The playback key is rotated by a documented procedure (docs/deploy.md): its public half must enter the CloudFront key group before the private half replaces the old one, which a Secrets Manager rotation Lambda cannot order.');
  }
  if (parts.hlsUsesDefaultCertificate) {
    acknowledge(parts.cdn, 'AwsSolutions-CFR4',
      'Without hlsDomainName the *.cloudfront.net certificate is used, whose TLS policy CloudFront fixes; with a domain, TLSv1.2_2021 is set.');
  }
}
