import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { FlowLogDestination, FlowLogTrafficType, GatewayVpcEndpointAwsService, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { HlsDelivery } from './hls-delivery.js';
import { applyNagSuppressions } from './nag-suppressions.js';
import { MediaService } from './media-service.js';
import { Operations } from './operations.js';
import { StreamKeysApi } from './stream-keys-api.js';
import { streamsTable } from './streams-table.js';

/** Deployment parameters (cdk.json context or `-c name=value`), with the defaults in README/docs/deploy.md. */
export interface BridgecastParameters {
  desiredCount: number;
  minTasks: number;
  maxTasks: number;
  /** Fargate task size: 1024 = 1 vCPU. */
  cpu: number;
  memoryMiB: number;
  natGateways: number;
  /** Optional CDN domain; needs hlsCertificateArn (an ACM certificate in us-east-1). */
  hlsDomainName?: string;
  hlsCertificateArn?: string;
}

export const DEFAULT_PARAMETERS: BridgecastParameters = {
  desiredCount: 2,
  minTasks: 2,
  maxTasks: 10,
  cpu: 2048,
  memoryMiB: 4096,
  natGateways: 1,
};

export interface BridgecastStackProps extends StackProps {
  parameters: BridgecastParameters;
}

/**
 * The whole platform in one stack: network, streams table, HLS bucket and
 * CDN, the media service behind the NLB, the stream-keys API, and the
 * autoscaler and recording indexer.
 */
export class BridgecastStack extends Stack {
  constructor(scope: Construct, id: string, props: BridgecastStackProps) {
    super(scope, id, props);
    const p = props.parameters;

    const vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: p.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'tasks', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      // HLS uploads and stream-key lookups stay off the NAT gateway (its data
      // charge would be ~USD 0.21 per 4 Mbit/s streaming hour); gateway
      // endpoints cost nothing.
      gatewayEndpoints: {
        S3: { service: GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: { rejected: { destination: FlowLogDestination.toCloudWatchLogs(), trafficType: FlowLogTrafficType.REJECT } },
    });
    const table = streamsTable(this);
    const hls = new HlsDelivery(this, 'HlsDelivery', {
      domainName: p.hlsDomainName,
      certificate: p.hlsCertificateArn ? Certificate.fromCertificateArn(this, 'HlsCertificate', p.hlsCertificateArn) : undefined,
    });
    const hlsBaseUrl = `https://${p.hlsDomainName ?? hls.distribution.distributionDomainName}`;

    // One name for the ECS service and the ServiceName dimension its tasks report (the autoscaler queries both).
    const serviceName = `${this.stackName}-media`;
    const media = new MediaService(this, 'Media', {
      vpc, table, bucket: hls.bucket, logBucket: hls.logBucket, hlsBaseUrl, desiredCount: p.desiredCount, serviceName, cpu: p.cpu, memoryMiB: p.memoryMiB,
    });
    new StreamKeysApi(this, 'StreamKeys', {
      table,
      ingestHost: media.loadBalancer.loadBalancerDnsName,
      hlsBaseUrl,
      flvBaseUrl: `http://${media.loadBalancer.loadBalancerDnsName}:8080`,
    });
    new Operations(this, 'Operations', {
      service: media.service, metricsServiceName: serviceName, table, bucket: hls.bucket, hlsBaseUrl, minTasks: p.minTasks, maxTasks: p.maxTasks,
    });

    applyNagSuppressions(this, {
      hlsUsesDefaultCertificate: !p.hlsDomainName, mediaTask: media.taskDefinition, mediaIngress: media.ingress, cdn: hls.distribution,
    });

    new CfnOutput(this, 'HlsBaseUrl', { value: `${hlsBaseUrl}/live`, description: 'HLS: <this>/<streamId>/index.m3u8' });
    new CfnOutput(this, 'BucketName', { value: hls.bucket.bucketName });
    new CfnOutput(this, 'TableName', { value: table.tableName });
  }
}
