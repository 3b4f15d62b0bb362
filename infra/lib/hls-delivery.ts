import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import {
  AllowedMethods, CachePolicy, CacheQueryStringBehavior, Distribution, HttpVersion, PriceClass,
  ResponseHeadersPolicy, SecurityPolicyProtocol, ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption, CfnBucket, ObjectOwnership, StorageClass, HttpMethods, type LifecycleRule } from 'aws-cdk-lib/aws-s3';
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { CfnDistribution, IKeyGroup } from 'aws-cdk-lib/aws-cloudfront';
import { Construct } from 'constructs';
import { HLS_LIVE_PREFIX, HLS_RECORDINGS_PREFIX } from '@bridgecast/contracts';

export interface HlsDeliveryProps {
  /** Days before recordings are deleted; 0 keeps them. */
  recordingRetentionDays: number;
  /** Days before large recording segments move to Glacier Instant Retrieval; 0 never. */
  recordingArchiveDays: number;
  /** Optional custom domain for the CDN (certificate in us-east-1). */
  domainName?: string;
  certificate?: ICertificate;
  /**
   * Private playback: every behaviour trusts this key group, so CloudFront
   * serves only requests carrying signed cookies (or a signed URL) of one of
   * its keys; and the app's origins get credentialed CORS (the wildcard
   * origin cannot carry cookies).
   */
  privatePlayback?: { keyGroup: IKeyGroup; appOrigins: string[] };
  /** A CLOUDFRONT-scope AWS WAF web ACL (created in us-east-1) to attach. */
  webAclArn?: string;
  /**
   * CloudFront in the China regions (aws-cn), which differs in two ways the
   * template must follow: it has no Origin Access Control
   * (AWS::CloudFront::OriginAccessControl is not a resource type there, so
   * the bucket is read through an origin access identity), and it takes no
   * ACM certificate: the custom domain, mandatory there, is served with an
   * IAM server certificate (its id, not its ARN).
   * https://docs.amazonaws.cn/en_us/aws/latest/userguide/cloudfront.html
   */
  china?: { domainName: string; iamCertificateId: string };
}

/**
 * Glacier Instant Retrieval bills every object as at least 128 KiB and for at
 * least 90 days, and each lifecycle transition is a request (USD 0.02 per
 * 1000 in Seoul). A segment saves (0.025 − 0.005) USD per GB-month, so one of
 * 512 KiB (2 s at 2 Mbit/s) earns its transition fee back after ~2 months in
 * the archive: only segments at least this large are moved, and only when
 * they stay long enough (docs/deploy.md has the arithmetic).
 */
export const ARCHIVE_MIN_OBJECT_BYTES = 512 * 1024;
/** The archive's minimum storage duration plus the ~2 months to earn the transition back. */
export const ARCHIVE_MIN_DAYS_IN_ARCHIVE = 90 + 60;

/**
 * Whether moving recordings to Glacier IR after `archiveDays` pays, given how
 * long they are kept (0 = forever).
 */
export function archiveTransitionPays(retentionDays: number, archiveDays: number): boolean {
  if (archiveDays <= 0) return false;
  return retentionDays === 0 || retentionDays - archiveDays >= ARCHIVE_MIN_DAYS_IN_ARCHIVE;
}

/**
 * HLS storage and delivery: a private, encrypted bucket written by the media
 * service (live windows expire after a day, recordings are kept for the
 * configured retention, large segments archived where that pays) and
 * CloudFront in front of it through Origin Access Control: playlists cached
 * for a second, segments for long, errors for at most a second, CORS for
 * browser players.
 */
/** How long CloudFront keeps an error from S3 (see errorResponses). */
export const ERROR_CACHING_SECONDS = 1;

export class HlsDelivery extends Construct {
  readonly bucket: Bucket;
  readonly logBucket: Bucket;
  readonly distribution: Distribution;
  /**
   * Whether CloudFront writes standard logs to logBucket: not when the stack
   * is in an opt-in region (ap-east-1 among them), where CloudFront delivers
   * no standard logs; the bucket's own S3 access logs are kept there too.
   * https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/AccessLogs.html#access-logs-choosing-s3-bucket
   */
  readonly cdnAccessLogs: boolean;

  constructor(scope: Construct, id: string, props: HlsDeliveryProps) {
    super(scope, id);
    this.logBucket = new Bucket(this, 'AccessLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // CloudFront standard logs are delivered with ACLs.
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const lifecycleRules: LifecycleRule[] = [
      { id: 'live-windows', prefix: HLS_LIVE_PREFIX, expiration: Duration.days(1) },
      ...(props.recordingRetentionDays > 0
        ? [{ id: 'recordings-retention', prefix: HLS_RECORDINGS_PREFIX, expiration: Duration.days(props.recordingRetentionDays) }]
        : []),
      ...(archiveTransitionPays(props.recordingRetentionDays, props.recordingArchiveDays)
        ? [{
          id: 'large-recording-segments-to-glacier-ir',
          prefix: HLS_RECORDINGS_PREFIX,
          objectSizeGreaterThan: ARCHIVE_MIN_OBJECT_BYTES,
          transitions: [{ storageClass: StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(props.recordingArchiveDays) }],
        }]
        : []),
      { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    ];
    this.bucket = new Bucket(this, 'Hls', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 's3/',
      lifecycleRules,
      cors: [{ allowedMethods: [HttpMethods.GET, HttpMethods.HEAD], allowedOrigins: ['*'], allowedHeaders: ['*'] }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // CloudFormation types ObjectSizeGreaterThan as a string; the L2 writes a number (a synth warning).
    const sized = lifecycleRules.findIndex((r) => r.objectSizeGreaterThan !== undefined);
    if (sized >= 0) {
      (this.bucket.node.defaultChild as CfnBucket).addPropertyOverride(`LifecycleConfiguration.Rules.${sized}.ObjectSizeGreaterThan`, String(ARCHIVE_MIN_OBJECT_BYTES));
    }

    const region = Stack.of(this).region;
    this.cdnAccessLogs = Token.isUnresolved(region) || !RegionInfo.get(region).isOptInRegion;
    const origin = props.china ? S3BucketOrigin.withOriginAccessIdentity(this.bucket) : S3BucketOrigin.withOriginAccessControl(this.bucket);
    const privatePlayback = props.privatePlayback;
    const cors = new ResponseHeadersPolicy(this, 'PlayerCors', {
      comment: privatePlayback ? 'CORS with credentials for the app\'s players' : 'CORS for browser HLS players',
      corsBehavior: {
        accessControlAllowOrigins: privatePlayback?.appOrigins ?? ['*'],
        accessControlAllowMethods: ['GET', 'HEAD', 'OPTIONS'],
        // With credentials a '*' is no wildcard to browsers: name what players send.
        accessControlAllowHeaders: privatePlayback ? ['Range'] : ['*'],
        accessControlAllowCredentials: privatePlayback !== undefined,
        accessControlMaxAge: Duration.days(1),
        originOverride: true,
      },
    });
    // Playlists change every segment: a one-second cache still collapses
    // thousands of viewers' polls into one origin request per second.
    const playlists = new CachePolicy(this, 'Playlists', {
      comment: 'HLS playlists: about one second',
      defaultTtl: Duration.seconds(1),
      minTtl: Duration.seconds(0),
      maxTtl: Duration.seconds(2),
      queryStringBehavior: CacheQueryStringBehavior.none(),
      enableAcceptEncodingGzip: true,
    });
    // Recording playlists follow what the writer says: a growing recording's
    // index.m3u8 is max-age=1, an ended one and the indexer's vod.m3u8 (written
    // once the recording is complete) a day. The live policy above would cap
    // them at 2 s and send every VOD viewer's player back to S3.
    const recordingPlaylists = new CachePolicy(this, 'RecordingPlaylists', {
      comment: 'Recording playlists: as the origin Cache-Control says, up to a day',
      defaultTtl: Duration.seconds(1),
      minTtl: Duration.seconds(0),
      maxTtl: Duration.days(1),
      queryStringBehavior: CacheQueryStringBehavior.none(),
      enableAcceptEncodingGzip: true,
    });
    // Segments never change once written.
    const segments = new CachePolicy(this, 'Segments', {
      comment: 'HLS segments: immutable',
      defaultTtl: Duration.days(1),
      minTtl: Duration.seconds(0),
      maxTtl: Duration.days(365),
      queryStringBehavior: CacheQueryStringBehavior.none(),
    });
    const behavior = (cachePolicy: CachePolicy) => ({
      origin,
      cachePolicy,
      responseHeadersPolicy: cors,
      viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
      allowedMethods: AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
      compress: true,
      ...(privatePlayback ? { trustedKeyGroups: [privatePlayback.keyGroup] } : {}),
    });
    this.distribution = new Distribution(this, 'Cdn', {
      comment: 'Bridgecast HLS',
      defaultBehavior: behavior(segments),
      // In order: CloudFront takes the first pattern that matches.
      additionalBehaviors: { [`${HLS_RECORDINGS_PREFIX}*.m3u8`]: behavior(recordingPlaylists), '*.m3u8': behavior(playlists) },
      // HTTP/3 is not among the China regions' documented features; the AWS sample for CloudFront China uses http2.
      // https://github.com/aws-samples/deploy-cloudfront-in-china-with-cdk
      httpVersion: props.china ? HttpVersion.HTTP2 : HttpVersion.HTTP2_AND_3,
      // Likewise IPv6 is off in that sample; on elsewhere.
      enableIpv6: !props.china,
      priceClass: PriceClass.PRICE_CLASS_ALL, // viewers are in mainland China / Asia: serve from the nearest edges
      // CloudFront caches an error 10 s by default, whatever the cache policy
      // says: the 403 S3 answers for a playlist not written yet (OAC has no
      // ListBucket, so a missing object is 403, not 404) would greet a new
      // broadcast's first viewers for 10 s. One second, like the playlists.
      // Error caching is set per distribution (there is none per behaviour);
      // a second also keeps a burst of requests for a missing segment from
      // reaching S3 more than once a second per edge.
      // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/custom-error-pages-expiration.html
      errorResponses: [403, 404].map((httpStatus) => ({ httpStatus, ttl: Duration.seconds(ERROR_CACHING_SECONDS) })),
      ...(this.cdnAccessLogs ? { enableLogging: true, logBucket: this.logBucket, logFilePrefix: 'cloudfront/' } : {}),
      ...(props.webAclArn ? { webAclId: props.webAclArn } : {}),
      ...(props.domainName && props.certificate
        ? { domainNames: [props.domainName], certificate: props.certificate, minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021 }
        : {}),
      ...(props.china ? { domainNames: [props.china.domainName] } : {}),
    });
    if (props.china) {
      // The L2 takes only ACM certificates; an IAM server certificate goes in by id.
      // https://docs.amazonaws.cn/en_us/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-procedures.html
      (this.distribution.node.defaultChild as CfnDistribution).addPropertyOverride('DistributionConfig.ViewerCertificate', {
        IamCertificateId: props.china.iamCertificateId,
        SslSupportMethod: 'sni-only',
        MinimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
      });
    }
  }
}
