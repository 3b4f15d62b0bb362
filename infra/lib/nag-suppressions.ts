import { Stack, Token, Validations } from 'aws-cdk-lib';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { MediaService } from './media-service.js';
import type { Operations } from './operations.js';

/**
 * Every cdk-nag (AWS Solutions) finding we accept, with the reason, each on
 * the construct it is about (never stack-wide: a stack-wide acknowledgement
 * would also pass the next wildcard anyone adds). An unacknowledged finding
 * fails `cdk synth` and the infra tests.
 */
export function applyNagSuppressions(stack: Stack, parts: {
  hlsUsesDefaultCertificate: boolean; media: MediaService; cdn: Construct; hls: Bucket; operations: Operations; streamKeys?: Construct;
  playbackSigningKey?: Construct; webAclAttached: boolean; tlsListeners: boolean;
  /** CloudFront in China: an origin access identity (no OAC there) and an IAM server certificate (no ACM there). */
  chinaCdn?: boolean;
  /** false in opt-in regions, where CloudFront delivers no standard logs (HlsDelivery.cdnAccessLogs). */
  cdnAccessLogs?: boolean;
}): void {
  const acknowledge = (scope: Construct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason });
  // cdk-nag names a resource by its ARN as written in the template: with an
  // account set (`cdk deploy` sets it from the credentials) that is the
  // literal account id, without one the AWS::AccountId pseudo parameter.
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const { media, operations } = parts;
  const bucketArn = `<${stack.getLogicalId(parts.hls.node.defaultChild as never)}.Arn>`;

  const notificationsHandler = stack.node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
  for (const fn of [operations.autoscaler, operations.indexer, parts.streamKeys, notificationsHandler].filter((c) => c !== undefined)) {
    acknowledge(fn, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'Grants only CloudWatch Logs writes to this function.');
  }
  if (notificationsHandler) {
    acknowledge(notificationsHandler, 'AwsSolutions-IAM5[Resource::*]',
      'CDK\'s bucket-notification helper calls s3:PutBucketNotification, which it scopes to no bucket.');
  }
  acknowledge(operations.autoscaler, 'AwsSolutions-IAM5[Resource::*]',
    'cloudwatch:GetMetricData supports no resource-level permissions (Service Authorization Reference).');
  acknowledge(media.taskDefinition, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:${region}:${account}:task/<${stack.getLogicalId(media.cluster.node.defaultChild as never)}>/*]`,
    'Task scale-in protection: the ECS agent calls Update/GetTaskProtection for the task itself; task ids are not known at deploy time, so the cluster\'s tasks are the narrowest scope.');
  acknowledge(media.taskDefinition, `AwsSolutions-IAM5[Resource::${bucketArn}/live/*]`,
    'The media service writes, reads back and deletes live playlists under live/<streamId>/: the prefix is the narrowest scope.');
  acknowledge(media.taskDefinition, `AwsSolutions-IAM5[Resource::${bucketArn}/recordings/*]`,
    'Segments, recording playlists and end.json are written under recordings/<streamId>/<broadcastId>/.');
  if (operations.indexer) {
    acknowledge(operations.indexer, `AwsSolutions-IAM5[Resource::${bucketArn}/recordings/*]`,
      'The indexer reads segments\' metadata and end.json under recordings/<streamId>/<broadcastId>/.');
    acknowledge(operations.indexer, `AwsSolutions-IAM5[Resource::${bucketArn}/recordings/*/vod.m3u8]`,
      'The indexer writes only vod.m3u8 objects, one per broadcast directory.');
  }
  acknowledge(media.taskDefinition.obtainExecutionRole(), 'AwsSolutions-IAM5[Resource::*]',
    'The execution role\'s ecr:GetAuthorizationToken (pulling the image) supports no resource-level permissions.');
  if (!parts.tlsListeners) {
    acknowledge(media.loadBalancer, 'AwsSolutions-ELB2',
      'A Network Load Balancer writes access logs only for TLS listeners; these listeners are TCP/UDP (NLB docs, load-balancer-access-logs). With tlsCertificateArn they are on.');
  }
  acknowledge(media.taskDefinition, 'AwsSolutions-ECS2',
    'The environment holds only names, URLs and ports (table, bucket, hosts); the one secret (RELAY_SECRET) comes through ECS secrets from Secrets Manager, and stream keys are hashed in DynamoDB.');
  if (media.ownRelaySecret) acknowledge(media.ownRelaySecret, 'AwsSolutions-SMG4',
    'The relay secret is an HMAC key the tasks share and read at start; tokens it signs live 60 s. Rotation = put a new value, then force a new deployment (no rotation Lambda: there is no service to re-key).');
  acknowledge(media.ingress, 'AwsSolutions-EC23',
    'Public ingest and playback: broadcasters and viewers connect from anywhere on exactly tcp/1935, udp/1936 and tcp/8080.');
  acknowledge(parts.cdn, 'AwsSolutions-CFR1', 'Public news broadcasts: no geo restriction by design; add one per deployment if rights require.');
  acknowledge(media.loadBalancerSecurityGroup, 'AwsSolutions-EC23',
    'The NLB is the public entry: broadcasters and viewers connect from anywhere, on exactly the listener ports.');
  if (!parts.webAclAttached) {
    acknowledge(parts.cdn, 'AwsSolutions-CFR2', parts.chinaCdn
      // https://docs.amazonaws.cn/en_us/aws/latest/userguide/waf.html
      ? 'AWS WAF is supported at a regional level only in the China regions: no web ACL can be attached to CloudFront there. Static HLS objects behind an origin access identity.'
      : 'Static HLS objects behind OAC; a web ACL (CLOUDFRONT scope, us-east-1) is attached with -c webAclArn=..., see docs/deploy.md.');
  }
  if (parts.playbackSigningKey) {
    acknowledge(parts.playbackSigningKey, 'AwsSolutions-SMG4',
      'The playback key is rotated by a documented procedure (docs/deploy.md): its public half must enter the CloudFront key group before the private half replaces the old one, which a Secrets Manager rotation Lambda cannot order.');
  }
  if (parts.cdnAccessLogs === false) {
    acknowledge(parts.cdn, 'AwsSolutions-CFR3',
      'CloudFront delivers no standard logs to buckets in opt-in regions such as ap-east-1 (CloudFront Developer Guide, choosing an S3 bucket for standard logs); the HLS bucket\'s S3 server access logs record every origin fetch.');
  }
  if (parts.chinaCdn) {
    acknowledge(parts.cdn, 'AwsSolutions-CFR7',
      'CloudFront in the China regions has no Origin Access Control (AWS::CloudFront::OriginAccessControl does not exist in cn-north-1/cn-northwest-1): an origin access identity reads the private bucket instead.');
    acknowledge(parts.cdn, 'AwsSolutions-CFR4',
      'The IAM server certificate (China has no ACM for CloudFront) is set with a property override, SNI only, TLSv1.2_2021, which cdk-nag does not read; test/infra/edge-stacks.test.ts asserts it on the template.');
  }
  if (parts.hlsUsesDefaultCertificate) {
    acknowledge(parts.cdn, 'AwsSolutions-CFR4',
      'Without hlsDomainName the *.cloudfront.net certificate is used, whose TLS policy CloudFront fixes; with a domain, TLSv1.2_2021 is set.');
  }
}
