import { CfnOutput, type StackProps } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { Construct } from 'constructs';
import { HlsDelivery } from './hls-delivery.js';
import { applyNagSuppressions } from './nag-suppressions.js';
import { KCP_PORT, MediaService, RTMP_PORT, RTMPS_PORT } from './media-service.js';
import { SiteStack } from './site-stack.js';
import { PlaybackSigning } from './playback-signing.js';
import { Operations } from './operations.js';
import { StreamKeysApi } from './stream-keys-api.js';
import { streamsTable } from './streams-table.js';

/** Deployment parameters (cdk.json context or `-c name=value`), with the defaults in README/docs/deploy.md. */
export interface BridgecastParameters {
  /**
   * No desiredCount: the template leaves DesiredCount out, so a stack update
   * never resets the count the autoscaler set (a new service starts with one
   * task and the autoscaler raises it to minTasks within a minute).
   */
  minTasks: number;
  maxTasks: number;
  /** Fargate task size: 1024 = 1 vCPU. */
  cpu: number;
  memoryMiB: number;
  natGateways: number;
  /** Days a recording is kept before S3 deletes it; 0 keeps recordings forever. */
  recordingRetentionDays: number;
  /**
   * Days after which large recording segments move to S3 Glacier Instant
   * Retrieval; 0 never. Applied only when it pays (see hls-delivery.ts).
   */
  recordingArchiveDays: number;
  /**
   * Availability zones of the VPC. Explicit so that synthesis with an account
   * (as `cdk deploy` runs it) needs no lookup; "" looks them up with the
   * deploying credentials (the CLI stores the answer in cdk.context.json).
   */
  availabilityZones?: string[];
  /** Optional CDN domain; needs hlsCertificateArn (an ACM certificate in us-east-1). */
  hlsDomainName?: string;
  hlsCertificateArn?: string;
  /** Signed cookies on every CloudFront behaviour; needs hlsDomainName, playbackPublicKeys and appOrigins. */
  privatePlayback?: boolean;
  /** PEM files of the playback public keys (comma-separated in context; two during a rotation). */
  playbackPublicKeys?: string[];
  /** Origins of the app's pages (credentialed CORS), e.g. https://news.example.com. */
  appOrigins?: string[];
  /** TLS listeners on the NLB: an ACM certificate in the stack's region for mediaDomainName. */
  tlsCertificateArn?: string;
  /** The DNS name (the operator's CNAME/alias to the NLB) the certificate is for. */
  mediaDomainName?: string;
  /** A CLOUDFRONT-scope AWS WAF web ACL (us-east-1) for the distribution, e.g. with a rate-based rule. */
  webAclArn?: string;
  /**
   * Reed-Solomon FEC of every KCP link of the deployment ("10,3"; "off"): the
   * origin's KCP port, the edges' pulls from it and their own KCP ports. Both
   * ends of a KCP link must use the same setting, so origin and edges share it.
   */
  kcpFec: string;
}

/**
 * Checks combinations the stack cannot build or that would not work once
 * deployed, with the fix in the message. Pure: tested without synth.
 */
export function validateParameters(p: BridgecastParameters, region: string): void {
  if (p.privatePlayback) {
    // Cookies are set by the app for its own domain; CloudFront's *.cloudfront.net name is not one an app can set cookies for.
    if (!p.hlsDomainName) throw new Error('privatePlayback needs hlsDomainName (the app sets signed cookies for its own domain)');
    if (!p.playbackPublicKeys?.length) throw new Error('privatePlayback needs playbackPublicKeys=<public.pem>[,<next.pem>] (see docs/deploy.md)');
    if (p.playbackPublicKeys.length > 2) throw new Error('playbackPublicKeys: at most two keys (the current one and, during a rotation, the next)');
    if (!p.appOrigins?.length) throw new Error('privatePlayback needs appOrigins=https://<your app> (credentialed CORS cannot use *)');
    for (const origin of p.appOrigins) {
      if (!/^https:\/\/[a-z0-9.-]+(:\d{1,5})?$/i.test(origin)) throw new Error(`appOrigins: "${origin}" is not an https origin like https://news.example.com`);
    }
  }
  if (p.tlsCertificateArn !== undefined) {
    if (!p.mediaDomainName) throw new Error('tlsCertificateArn needs mediaDomainName (the name the certificate is for, pointed at the NLB)');
    // An NLB listener takes a certificate from ACM in its own region (unlike CloudFront, which needs us-east-1).
    if (!new RegExp(`^arn:aws[a-z-]*:acm:${region}:\\d{12}:certificate/[0-9a-f-]+$`).test(p.tlsCertificateArn)) {
      throw new Error(`tlsCertificateArn must be an ACM certificate in ${region}, the stack's region`);
    }
  }
  if (!/^(off|\d{1,3},\d{1,3})$/.test(p.kcpFec)) throw new Error(`kcpFec must be "<data>,<parity>" such as "10,3", or "off"; got "${p.kcpFec}"`);
  // A web ACL for CloudFront must be created in us-east-1 with scope CLOUDFRONT; its ARN says so ("global").
  // https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works-resources.html
  if (p.webAclArn !== undefined && !/^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/[\w-]+\/[0-9a-f-]+$/.test(p.webAclArn)) {
    throw new Error('webAclArn must be a CLOUDFRONT-scope web ACL, created in us-east-1 (arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>)');
  }
}

export const DEFAULT_PARAMETERS: BridgecastParameters = {
  minTasks: 2,
  maxTasks: 10,
  cpu: 2048,
  memoryMiB: 4096,
  natGateways: 1,
  recordingRetentionDays: 0,
  recordingArchiveDays: 90,
  kcpFec: '10,3',
};

export interface BridgecastStackProps extends StackProps {
  parameters: BridgecastParameters;
  /** Regions of the edge stacks in this app (same partition): the relay secret is replicated there. */
  edgeRegions?: string[];
}

/**
 * The whole platform in one stack: network, streams table, HLS bucket and
 * CDN, the media service behind the NLB, the stream-keys API, and the
 * autoscaler and recording indexer.
 */
export class BridgecastStack extends SiteStack {
  readonly media: MediaService;
  /** The host edges pull from: the operator's DNS name for the NLB when there is one (stable), else the NLB's own name. */
  readonly originHost: string;

  constructor(scope: Construct, id: string, props: BridgecastStackProps) {
    super(scope, id, { ...props, availabilityZones: props.parameters.availabilityZones, natGateways: props.parameters.natGateways });
    const p = props.parameters;
    validateParameters(p, this.region);
    const vpc = this.vpc;
    const table = streamsTable(this);
    const playbackSigning = p.privatePlayback ? new PlaybackSigning(this, 'PlaybackSigning', { publicKeyFiles: p.playbackPublicKeys! }) : undefined;
    const hls = new HlsDelivery(this, 'HlsDelivery', {
      recordingRetentionDays: p.recordingRetentionDays,
      recordingArchiveDays: p.recordingArchiveDays,
      domainName: p.hlsDomainName,
      certificate: p.hlsCertificateArn ? Certificate.fromCertificateArn(this, 'HlsCertificate', p.hlsCertificateArn) : undefined,
      privatePlayback: playbackSigning && { keyGroup: playbackSigning.keyGroup, appOrigins: p.appOrigins! },
      webAclArn: p.webAclArn,
    });
    const hlsBaseUrl = `https://${p.hlsDomainName ?? hls.distribution.distributionDomainName}`;

    // One name for the ECS service and the ServiceName dimension its tasks report (the autoscaler queries both).
    const serviceName = `${this.stackName}-media`;
    const tls = p.tlsCertificateArn
      ? { certificate: Certificate.fromCertificateArn(this, 'MediaCertificate', p.tlsCertificateArn), domainName: p.mediaDomainName!, accessLogs: hls.logBucket }
      : undefined;
    const media = this.media = new MediaService(this, 'Media', {
      vpc, table, bucket: hls.bucket, hlsBaseUrl, serviceName, cpu: p.cpu, memoryMiB: p.memoryMiB,
      tls, playbackPublicKeysJson: playbackSigning?.publicKeysJson, kcpFec: p.kcpFec, relaySecretReplicaRegions: props.edgeRegions,
    });
    this.originHost = tls?.domainName ?? media.loadBalancer.loadBalancerDnsName;
    const streamKeys = new StreamKeysApi(this, 'StreamKeys', {
      table,
      ingestHost: tls?.domainName ?? media.loadBalancer.loadBalancerDnsName,
      hlsBaseUrl,
      flvBaseUrl: media.flvBaseUrl,
      rtmpPort: RTMP_PORT,
      kcpPort: KCP_PORT,
      kcpFec: p.kcpFec,
      ...(tls ? { rtmpsPort: RTMPS_PORT } : {}),
      playbackSigning,
    });
    const operations = new Operations(this, 'Operations', {
      service: media.service, metricsServiceName: serviceName, table, bucket: hls.bucket, hlsBaseUrl, minTasks: p.minTasks, maxTasks: p.maxTasks,
      indexRecordings: true,
    });

    applyNagSuppressions(this, {
      hlsUsesDefaultCertificate: !p.hlsDomainName, media, cdn: hls.distribution, hls: hls.bucket, operations, streamKeys: streamKeys.handler, cdnAccessLogs: hls.cdnAccessLogs,
      playbackSigningKey: playbackSigning?.signingKey, webAclAttached: p.webAclArn !== undefined, tlsListeners: tls !== undefined,
    });

    new CfnOutput(this, 'HlsBaseUrl', { value: `${hlsBaseUrl}/live`, description: 'HLS: <this>/<streamId>/index.m3u8' });
    new CfnOutput(this, 'BucketName', { value: hls.bucket.bucketName });
    new CfnOutput(this, 'TableName', { value: table.tableName });
  }
}

