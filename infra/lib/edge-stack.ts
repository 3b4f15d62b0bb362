import { CfnOutput, type StackProps } from 'aws-cdk-lib';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { HlsDelivery } from './hls-delivery.js';
import { HTTP_PORT, KCP_PORT, MediaService } from './media-service.js';
import { applyNagSuppressions } from './nag-suppressions.js';
import { Operations } from './operations.js';
import { isChinaRegion } from './partition.js';
import { SiteStack } from './site-stack.js';
import { streamsTable } from './streams-table.js';

/** How an edge pulls: every live stream (its HLS exists whether watched or not) or only streams its viewers ask for. */
export type EdgeMode = 'all' | 'on-demand';

/** Where an edge finds the origin (docs/edges.md). */
export interface EdgeOrigin {
  /** kcp://<origin NLB or its DNS name>:1936: the cross-border link (EDGE_ORIGIN). */
  url: string;
  /** http://<same host>:8080 unless given: where the edge lists the origin's live streams (EDGE_ORIGIN_API). */
  apiUrl: string;
}

export interface EdgeParameters {
  minTasks: number;
  maxTasks: number;
  cpu: number;
  memoryMiB: number;
  natGateways: number;
  availabilityZones?: string[];
  /** Same value as the origin's: both ends of the KCP link must agree. */
  kcpFec: string;
  mode: EdgeMode;
  /**
   * Days the edge keeps its HLS segments (written under recordings/ like
   * the origin's; the live playlists point at them). Short: recordings are
   * the origin's business, the edge serves live windows.
   */
  segmentRetentionDays: number;
  /** Custom CDN domain: China only (mandatory there, with hlsIamCertificateId); elsewhere an edge serves on its *.cloudfront.net name. */
  hlsDomainName?: string;
  /** China: the id (ASCA…) of the IAM server certificate for hlsDomainName; CloudFront there takes no ACM certificate. */
  hlsIamCertificateId?: string;
}

export const DEFAULT_EDGE_SEGMENT_RETENTION_DAYS = 1;

export interface EdgeStackProps extends StackProps {
  parameters: EdgeParameters;
  origin: EdgeOrigin;
  /**
   * The relay secret's ARN in this region: the origin's replica (same
   * partition, deployed with the origin) or a secret the operator created
   * with the origin's value (China). The value never enters the template.
   */
  relaySecretArn: string;
}

/**
 * Checks an edge's parameters before anything is built, with the fix in the
 * message. China's CloudFront serves only a custom domain (ICP-recorded)
 * with an IAM server certificate, so both are required there.
 * https://docs.amazonaws.cn/en_us/aws/latest/userguide/cloudfront.html
 */
export function validateEdgeParameters(p: EdgeParameters, region: string): void {
  if (isChinaRegion(region) && (!p.hlsDomainName || !p.hlsIamCertificateId)) {
    throw new Error(`an edge in ${region} needs -c hlsDomainName=<ICP-recorded domain> -c hlsIamCertificateId=<IAM server certificate id>: CloudFront in China serves no *.cloudfront.cn name and takes no ACM certificate (docs/edges.md)`);
  }
  if (!isChinaRegion(region) && (p.hlsIamCertificateId || p.hlsDomainName)) {
    throw new Error(`hlsDomainName and hlsIamCertificateId on an edge are for the China regions; an edge in ${region} serves HLS on its *.cloudfront.net name`);
  }
  if (p.mode !== 'all' && p.mode !== 'on-demand') throw new Error(`edgeMode must be "all" or "on-demand", got "${String(p.mode)}"`);
}

/**
 * Parses the operator's `-c origin=kcp://host:1936` (and optional
 * `-c originApi=http://host:8080`) into the contract's EDGE_ORIGIN and
 * EDGE_ORIGIN_API. rtmp:// is accepted as the service accepts it (for
 * comparison runs); anything else is refused in one line.
 */
export function parseEdgeOrigin(origin: string, originApi?: string): EdgeOrigin {
  const match = /^(kcp|rtmp):\/\/([a-z0-9.-]+|\[[0-9a-f:]+\]):(\d{1,5})$/i.exec(origin);
  if (!match || Number(match[3]) > 65535) throw new Error(`origin must look like kcp://<origin host>:${KCP_PORT} (the origin's NLB or its DNS name), got "${origin}"`);
  if (originApi !== undefined && !/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i.test(originApi)) throw new Error(`originApi must look like http://<origin host>:${HTTP_PORT}, got "${originApi}"`);
  return { url: origin, apiUrl: originApi ?? `http://${match[2]}:${HTTP_PORT}` };
}

/**
 * An edge near the viewers: its own media cluster behind its own NLB
 * (HTTP-FLV, RTMP and KCP for viewers), its own streams table (the leases
 * of its live registry), its own HLS bucket behind the region's CloudFront,
 * and the autoscaler. Its tasks pull every live stream of the origin once
 * across the border over KCP (the task holding a stream's lease in the
 * edge's registry pulls it; the others pull from that task), authenticated
 * with the relay secret. No stream keys API and no recording indexer: keys
 * and recordings are the origin's.
 */
export class EdgeStack extends SiteStack {
  readonly media: MediaService;
  readonly hls: HlsDelivery;

  constructor(scope: Construct, id: string, props: EdgeStackProps) {
    super(scope, id, { ...props, availabilityZones: props.parameters.availabilityZones, natGateways: props.parameters.natGateways });
    const p = props.parameters;
    validateEdgeParameters(p, this.region);
    const china = isChinaRegion(this.region);

    const table = streamsTable(this);
    const hls = this.hls = new HlsDelivery(this, 'HlsDelivery', {
      recordingRetentionDays: p.segmentRetentionDays,
      recordingArchiveDays: 0,
      ...(china ? { china: { domainName: p.hlsDomainName!, iamCertificateId: p.hlsIamCertificateId! } } : {}),
    });
    const hlsBaseUrl = `https://${p.hlsDomainName ?? hls.distribution.distributionDomainName}`;
    const serviceName = `${this.stackName}-media`;
    const relaySecret: ISecret = Secret.fromSecretCompleteArn(this, 'RelaySecret', props.relaySecretArn);
    const media = this.media = new MediaService(this, 'Media', {
      vpc: this.vpc, table, bucket: hls.bucket, hlsBaseUrl, serviceName, cpu: p.cpu, memoryMiB: p.memoryMiB,
      kcpFec: p.kcpFec,
      relaySecret,
      // The edge contract of the media service (README, "Edges").
      environment: {
        EDGE_ORIGIN: props.origin.url,
        EDGE_ORIGIN_API: props.origin.apiUrl,
        EDGE_MODE: p.mode,
        EDGE_NAME: this.region,
      },
    });
    const operations = new Operations(this, 'Operations', {
      service: media.service, metricsServiceName: serviceName, table, bucket: hls.bucket, hlsBaseUrl, minTasks: p.minTasks, maxTasks: p.maxTasks,
      indexRecordings: false,
    });

    applyNagSuppressions(this, {
      hlsUsesDefaultCertificate: !p.hlsDomainName, media, cdn: hls.distribution, hls: hls.bucket, operations,
      webAclAttached: false, tlsListeners: false, chinaCdn: china, cdnAccessLogs: hls.cdnAccessLogs,
    });

    new CfnOutput(this, 'HlsBaseUrl', { value: `${hlsBaseUrl}/live`, description: 'HLS at this edge: <this>/<streamId>/index.m3u8' });
    new CfnOutput(this, 'EdgeOrigin', { value: props.origin.url, description: 'Where this edge pulls every live stream from (EDGE_ORIGIN)' });
    new CfnOutput(this, 'BucketName', { value: hls.bucket.bucketName });
    new CfnOutput(this, 'TableName', { value: table.tableName });
  }
}
