import path from 'node:path';
import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import { Peer, Port, SecurityGroup, type IVpc } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  Cluster, ContainerImage, ContainerInsights, CpuArchitecture, FargatePlatformVersion, FargateService, FargateTaskDefinition,
  LogDriver, OperatingSystemFamily, Protocol as EcsProtocol, Secret as EcsSecret,
} from 'aws-cdk-lib/aws-ecs';
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import { ListenerCertificate, NetworkLoadBalancer, Protocol, SslPolicy, type NetworkTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { Secret as SecretsManagerSecret } from 'aws-cdk-lib/aws-secretsmanager';
import { HLS_LIVE_PREFIX, HLS_RECORDINGS_PREFIX, LIVE_LEASE_PK, STREAMS_TABLE_SCHEMA } from '@bridgecast/contracts';
import { REPO_ROOT } from './paths.js';

export const RTMP_PORT = 1935;
/**
 * KCP has its own UDP port in AWS, not 1935 as locally: ECS identifies a
 * load-balanced port by container and port number only and refuses a port
 * mapped for both tcp and udp ("Container port 1935 is used in more than one
 * port mapping", aws/amazon-ecs-agent#3428, aws/containers-roadmap#850), and
 * an NLB cannot have a TCP and a UDP listener on one port (only TCP_UDP,
 * whose target group would need that double mapping).
 */
export const KCP_PORT = 1936;
export const HTTP_PORT = 8080;
/**
 * How ECS stops a task of this service (scale-in, deployment, stop-task):
 *  1. it deregisters the task from both target groups and waits for the
 *     NLB's deregistration delay (DEREGISTRATION_DELAY_SECONDS): no new
 *     connections reach the task, existing ones keep flowing (connection
 *     termination stays off), and the task itself is not told yet — with
 *     broadcasts open the whole delay is always waited out;
 *  2. then SIGTERM: the service refuses new publishers, lets broadcasts run
 *     for DRAIN_SECONDS, disconnects the rest and uploads the last HLS
 *     segment, playlists and end.json;
 *  3. SIGKILL STOP_TIMEOUT_SECONDS after SIGTERM (120 s is the Fargate maximum).
 * So a stop takes up to 30 + 120 s, and DRAIN_SECONDS leaves 30 s of the stop
 * timeout for the final uploads.
 */
const DEREGISTRATION_DELAY_SECONDS = 30;
const STOP_TIMEOUT_SECONDS = 120;
const DRAIN_SECONDS = 90;

export interface MediaServiceProps {
  vpc: IVpc;
  table: Table;
  bucket: Bucket;
  hlsBaseUrl: string;
  /** Explicit ECS service name, also the ServiceName dimension of the task's metrics. */
  serviceName: string;
  cpu: number;
  memoryMiB: number;
  /**
   * TLS on the load balancer: RTMPS and HTTPS (HTTP-FLV) listeners with this
   * ACM certificate (in the stack's region), for `domainName`, a DNS name
   * of the operator's pointing at the NLB. Ingest and playback URLs then use
   * that name. The NLB's access logs (written for TLS listeners only) go to
   * `accessLogs` under nlb/.
   */
  tls?: { certificate: ICertificate; domainName: string; accessLogs: Bucket };
  /** Public keys that check private streams' play tokens (PlaybackSigning.publicKeysJson). */
  playbackPublicKeysJson?: string;
}

/** RTMPS on 443, the port OBS and the platforms use for rtmps://. */
export const RTMPS_PORT = 443;
/** HTTPS for HTTP-FLV: 443 is taken by RTMPS on the same load balancer. */
export const HTTPS_FLV_PORT = 8443;

/**
 * The media service on Fargate behind an internet-facing Network Load
 * Balancer: RTMP on TCP 1935, RTMP-over-KCP on UDP 1936 (see KCP_PORT),
 * HTTP-FLV on TCP 8080, one listener and target group each; client IPs
 * preserved so per-address limits work; health from GET /healthz, which
 * turns 503 while a task drains so the NLB stops sending it new broadcasters.
 * No NLB access logs: an NLB writes them only for TLS listeners.
 */
export class MediaService extends Construct {
  readonly cluster: Cluster;
  readonly service: FargateService;
  readonly loadBalancer: NetworkLoadBalancer;
  readonly taskDefinition: FargateTaskDefinition;
  readonly ingress: SecurityGroup;
  /** Signs relay pulls between the tasks; reaches the container through ECS `secrets`. */
  readonly relaySecret: SecretsManagerSecret;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  /** Base of HTTP-FLV playback URLs: https:// on the TLS listener when there is one. */
  readonly flvBaseUrl: string;

  constructor(scope: Construct, id: string, props: MediaServiceProps) {
    super(scope, id);
    this.cluster = new Cluster(this, 'Cluster', { vpc: props.vpc, containerInsightsV2: ContainerInsights.ENABLED });
    // The NLB's own security group. It can only be given at creation (an NLB
    // created without one can never get one), so it is there in every
    // deployment, opening exactly the listener ports.
    // https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-security-groups.html
    this.loadBalancerSecurityGroup = new SecurityGroup(this, 'NlbSecurityGroup', {
      vpc: props.vpc,
      description: `Bridgecast NLB listeners: RTMP tcp/${RTMP_PORT}, KCP udp/${KCP_PORT}, HTTP-FLV tcp/${HTTP_PORT} (+ RTMPS tcp/${RTMPS_PORT}, HTTPS tcp/${HTTPS_FLV_PORT} with TLS)`,
      allowAllOutbound: true,
    });
    for (const [port, description] of listenerPorts(props.tls !== undefined)) this.loadBalancerSecurityGroup.addIngressRule(Peer.anyIpv4(), port, description);
    this.loadBalancer = new NetworkLoadBalancer(this, 'Nlb', {
      vpc: props.vpc,
      internetFacing: true,
      crossZoneEnabled: true,
      securityGroups: [this.loadBalancerSecurityGroup],
    });
    const publicHost = props.tls?.domainName ?? this.loadBalancer.loadBalancerDnsName;
    this.flvBaseUrl = props.tls ? `https://${publicHost}:${HTTPS_FLV_PORT}` : `http://${publicHost}:${HTTP_PORT}`;

    const task = this.taskDefinition = new FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.X86_64, operatingSystemFamily: OperatingSystemFamily.LINUX },
      ephemeralStorageGiB: 40, // the HLS upload spool rides out S3 trouble on local disk
    });
    const logs = new LogGroup(this, 'Logs', { retention: RetentionDays.ONE_MONTH });
    // Signs the pulls between tasks (a viewer on one task of a stream published
    // on another). Generated by Secrets Manager and handed to the container
    // through ECS `secrets`: it never appears in the template, the task
    // definition or the logs.
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
    const relaySecret = this.relaySecret = new SecretsManagerSecret(this, 'RelaySecret', {
      description: 'Bridgecast: signs relay pulls between media tasks',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    task.addContainer('media', {
      image: ContainerImage.fromAsset(REPO_ROOT, { file: path.join('services', 'media', 'Dockerfile'), platform: Platform.LINUX_AMD64 }),
      logging: LogDriver.awsLogs({ logGroup: logs, streamPrefix: 'media' }),
      stopTimeout: Duration.seconds(STOP_TIMEOUT_SECONDS),
      environment: {
        AUTH: 'keys',
        STREAMS_TABLE: props.table.tableName,
        HLS_BUCKET: props.bucket.bucketName,
        AWS_REGION: Stack.of(this).region,
        PUBLIC_HOST: publicHost,
        // The image's defaults are the local ones (KCP on 1935); in AWS KCP has its own port.
        RTMP_PORT: String(RTMP_PORT),
        KCP_PORT: String(KCP_PORT),
        HTTP_PORT: String(HTTP_PORT),
        HLS_BASE_URL: props.hlsBaseUrl,
        FLV_BASE_URL: this.flvBaseUrl,
        ...(props.playbackPublicKeysJson ? { PLAYBACK_PUBLIC_KEYS: props.playbackPublicKeysJson } : {}),
        METRICS_NAMESPACE: 'Bridgecast',
        // The ServiceName dimension the autoscaler queries (same value in its env).
        METRICS_SERVICE_NAME: props.serviceName,
        EMF: 'true',
        DRAIN_SECONDS: String(DRAIN_SECONDS),
        LOG_LEVEL: 'info',
      },
      portMappings: [
        { containerPort: RTMP_PORT, protocol: EcsProtocol.TCP, name: 'rtmp' },
        { containerPort: KCP_PORT, protocol: EcsProtocol.UDP, name: 'kcp' },
        { containerPort: HTTP_PORT, protocol: EcsProtocol.TCP, name: 'http' },
      ],
      secrets: { RELAY_SECRET: EcsSecret.fromSecretsManager(relaySecret) },
      readonlyRootFilesystem: false,
    });
    // Least privilege: write HLS under its two prefixes (delete only live
    // windows: recordings are never deleted by the task), read stream keys.
    // Read back only the live playlists (a task continues the media sequence
    // another task or an earlier run wrote), and list only under live/ so a
    // playlist not written yet reads as 404 NoSuchKey rather than 403 (below).
    task.taskRole.addToPrincipalPolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: [props.bucket.arnForObjects(`${HLS_LIVE_PREFIX}*`), props.bucket.arnForObjects(`${HLS_RECORDINGS_PREFIX}*`)],
    }));
    task.taskRole.addToPrincipalPolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['s3:GetObject', 's3:DeleteObject'],
      resources: [props.bucket.arnForObjects(`${HLS_LIVE_PREFIX}*`)],
    }));
    // s3:ListBucket only so that S3 answers a missing live playlist with 404
    // NoSuchKey instead of 403 (it answers 404 only to callers allowed to list
    // the bucket). Not narrowed by an s3:prefix condition: a GetObject request
    // carries no prefix, so a conditioned grant would not count for it. The
    // task lists nothing; it wrote every object of this bucket anyway.
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (Permissions)
    task.taskRole.addToPrincipalPolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['s3:ListBucket'],
      resources: [props.bucket.bucketArn],
    }));
    // StreamKeyStore.resolveKey / isStreamActive: Query on the keyHash index, GetItem on the table.
    task.taskRole.addToPrincipalPolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['dynamodb:GetItem', 'dynamodb:Query'],
      resources: [props.table.tableArn, `${props.table.tableArn}/index/${STREAMS_TABLE_SCHEMA.keyHashIndex.name}`],
    }));
    // The live-stream registry (cluster/lease-store.ts): leases in the LIVE
    // partition only, taken with PutItem, renewed with UpdateItem, released
    // with DeleteItem (listing is the Query granted above).
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
    task.taskRole.addToPrincipalPolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      resources: [props.table.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [LIVE_LEASE_PK] } },
    }));
    // Scale-in protection: the ECS agent calls these with the task role's credentials.
    task.taskRole.addToPrincipalPolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['ecs:UpdateTaskProtection', 'ecs:GetTaskProtection'],
      resources: [Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${this.cluster.clusterName}/*` })],
    }));

    const securityGroup = this.ingress = new SecurityGroup(this, 'Ingress', {
      vpc: props.vpc,
      description: `Bridgecast media: RTMP tcp/${RTMP_PORT}, KCP udp/${KCP_PORT}, HTTP-FLV tcp/${HTTP_PORT}`,
      allowAllOutbound: true,
    });
    securityGroup.addIngressRule(Peer.anyIpv4(), Port.tcp(RTMP_PORT), 'RTMP from broadcasters and viewers');
    securityGroup.addIngressRule(Peer.anyIpv4(), Port.udp(KCP_PORT), 'RTMP over KCP');
    securityGroup.addIngressRule(Peer.anyIpv4(), Port.tcp(HTTP_PORT), 'HTTP-FLV and health checks');
    // Tasks pull streams from each other's RTMP port (a viewer on a task that is not the stream's owner).
    securityGroup.addIngressRule(securityGroup, Port.tcp(RTMP_PORT), 'relay pulls between media tasks');

    this.service = new FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: task,
      // No desiredCount: CloudFormation then leaves the running count alone on
      // updates (a new service starts with 1); the autoscaler owns the count.
      serviceName: props.serviceName,
      platformVersion: FargatePlatformVersion.LATEST,
      securityGroups: [securityGroup],
      assignPublicIp: false,
      circuitBreaker: { rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(60),
      enableExecuteCommand: false,
    });

    const rtmpTargets = this.loadBalancer.addListener('Rtmp', { port: RTMP_PORT, protocol: Protocol.TCP })
      .addTargets('Media', {
        port: RTMP_PORT,
        protocol: Protocol.TCP,
        targets: [this.service.loadBalancerTarget({ containerName: 'media', containerPort: RTMP_PORT })],
        ...targetDefaults(),
      });
    const kcpTargets = this.loadBalancer.addListener('Kcp', { port: KCP_PORT, protocol: Protocol.UDP })
      .addTargets('Kcp', {
        port: KCP_PORT,
        protocol: Protocol.UDP,
        targets: [this.service.loadBalancerTarget({ containerName: 'media', containerPort: KCP_PORT, protocol: EcsProtocol.UDP })],
        ...targetDefaults(),
      });
    const flvTargets = this.loadBalancer.addListener('HttpFlv', { port: HTTP_PORT, protocol: Protocol.TCP })
      .addTargets('Flv', {
        port: HTTP_PORT,
        protocol: Protocol.TCP,
        targets: [this.service.loadBalancerTarget({ containerName: 'media', containerPort: HTTP_PORT })],
        ...targetDefaults(),
      });
    for (const group of [rtmpTargets, kcpTargets, flvTargets]) preserveClientIp(group);
    if (props.tls) {
      this.addTlsListeners(props.tls.certificate, rtmpTargets, flvTargets);
      this.loadBalancer.logAccessLogs(props.tls.accessLogs, 'nlb');
    }

    new CfnOutput(scope, 'RtmpEndpoint', { value: `rtmp://${publicHost}:${RTMP_PORT}/live`, description: 'OBS server URL; the stream key goes in the key field' });
    new CfnOutput(scope, 'KcpEndpoint', { value: `kcp://${publicHost}:${KCP_PORT}/live`, description: 'RTMP over KCP (bridgecast kcp-push --server)' });
    new CfnOutput(scope, 'FlvBaseUrl', { value: `${this.flvBaseUrl}/live`, description: 'Low-delay HTTP-FLV: <this>/<streamId>.flv' });
    if (props.tls) {
      new CfnOutput(scope, 'RtmpsEndpoint', { value: `rtmps://${publicHost}:${RTMPS_PORT}/live`, description: 'OBS server URL over TLS' });
    }
  }

  /**
   * TLS terminated at the NLB (the tasks keep speaking plain RTMP and HTTP
   * behind it): RTMPS on 443 to the RTMP target group, HTTPS on 8443 to the
   * HTTP-FLV one (a TLS listener forwards to TCP groups; the groups are
   * shared, so the service keeps its three). TLS 1.2+ (ELBSecurityPolicy-TLS13-1-2-2021-06).
   * https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-listeners.html
   */
  private addTlsListeners(certificate: ICertificate, rtmpTargets: NetworkTargetGroup, flvTargets: NetworkTargetGroup): void {
    const tlsListener = (id: string, port: number) => this.loadBalancer.addListener(id, {
      port, protocol: Protocol.TLS, certificates: [ListenerCertificate.fromCertificateManager(certificate)], sslPolicy: SslPolicy.RECOMMENDED_TLS,
    });
    tlsListener('Rtmps', RTMPS_PORT).addTargetGroups('RtmpsTargets', rtmpTargets);
    tlsListener('HttpsFlv', HTTPS_FLV_PORT).addTargetGroups('HttpsFlvTargets', flvTargets);
  }
}

/** The NLB's listener ports, for its security group. */
function listenerPorts(withTls: boolean): [Port, string][] {
  return [
    [Port.tcp(RTMP_PORT), 'RTMP from broadcasters and viewers'],
    [Port.udp(KCP_PORT), 'RTMP over KCP'],
    [Port.tcp(HTTP_PORT), 'HTTP-FLV'],
    ...(withTls ? [[Port.tcp(RTMPS_PORT), 'RTMPS'], [Port.tcp(HTTPS_FLV_PORT), 'HTTP-FLV over TLS']] as [Port, string][] : []),
  ];
}

/**
 * Health from /healthz. The deregistration delay runs *before* SIGTERM (see
 * STOP_TIMEOUT_SECONDS): it only has to let the NLB stop routing new flows,
 * the drain itself happens after it, so it is short.
 */
function targetDefaults() {
  return {
    deregistrationDelay: Duration.seconds(DEREGISTRATION_DELAY_SECONDS),
    healthCheck: {
      protocol: Protocol.HTTP,
      port: String(HTTP_PORT),
      path: '/healthz',
      interval: Duration.seconds(10),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 2,
    },
  };
}

function preserveClientIp(group: NetworkTargetGroup): void {
  group.setAttribute('preserve_client_ip.enabled', 'true');
  // Explicitly off (the default): broadcasts must survive the deregistration delay into the drain.
  group.setAttribute('deregistration_delay.connection_termination.enabled', 'false');
}
