import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import {
  AllowedMethods, CachePolicy, CacheQueryStringBehavior, Distribution, HttpVersion, PriceClass,
  ResponseHeadersPolicy, SecurityPolicyProtocol, ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, StorageClass, HttpMethods } from 'aws-cdk-lib/aws-s3';
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { IKeyGroup } from 'aws-cdk-lib/aws-cloudfront';
import { Construct } from 'constructs';

export interface HlsDeliveryProps {
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
}

/**
 * HLS storage and delivery: a private, encrypted bucket written by the media
 * service (live windows expire after a day, recordings move to cheaper
 * storage after 30 days) and CloudFront in front of it through Origin Access
 * Control: playlists cached for a second, segments for long, CORS for
 * browser players.
 */
export class HlsDelivery extends Construct {
  readonly bucket: Bucket;
  readonly logBucket: Bucket;
  readonly distribution: Distribution;

  constructor(scope: Construct, id: string, props: HlsDeliveryProps = {}) {
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
    this.bucket = new Bucket(this, 'Hls', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 's3/',
      lifecycleRules: [
        { id: 'live-windows', prefix: 'live/', expiration: Duration.days(1) },
        {
          id: 'recordings-to-cheaper-storage',
          prefix: 'recordings/',
          transitions: [{ storageClass: StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(30) }],
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      cors: [{ allowedMethods: [HttpMethods.GET, HttpMethods.HEAD], allowedOrigins: ['*'], allowedHeaders: ['*'] }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const origin = S3BucketOrigin.withOriginAccessControl(this.bucket);
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
      additionalBehaviors: { 'recordings/*.m3u8': behavior(recordingPlaylists), '*.m3u8': behavior(playlists) },
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_ALL, // viewers are in mainland China / Asia: serve from the nearest edges
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
      ...(props.webAclArn ? { webAclId: props.webAclArn } : {}),
      ...(props.domainName && props.certificate
        ? { domainNames: [props.domainName], certificate: props.certificate, minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021 }
        : {}),
    });
  }
}
