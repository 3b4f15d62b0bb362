import { Duration } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { FargateService } from 'aws-cdk-lib/aws-ecs';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { EventType, type Bucket } from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { HLS_RECORDINGS_PREFIX, STREAM_PK_PREFIX } from '@bridgecast/contracts';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { bridgecastFunction } from './lambda-function.js';

export interface OperationsProps {
  service: FargateService;
  /** The ServiceName dimension of the media tasks' metrics (= the ECS service name). */
  metricsServiceName: string;
  table: Table;
  bucket: Bucket;
  hlsBaseUrl: string;
  minTasks: number;
  maxTasks: number;
  /**
   * The recording indexer (S3 events → SQS → Lambda → VOD playlists and the
   * recordings index). Off at an edge: recordings are the origin's; an
   * edge's HLS bucket only serves live windows near its viewers.
   */
  indexRecordings: boolean;
}

const INDEXER_TIMEOUT = Duration.seconds(60);
/** The recording objects the indexer acts on (parseRecordingKey in packages/contracts/src/hls-layout.ts). */
export const RECORDING_EVENT_SUFFIXES = ['.ts', '/end.json'];

/**
 * Running at scale: the stream-aware autoscaler every minute, and the
 * recording indexer fed by S3 events through SQS (batching, retries, and a
 * dead-letter queue for what keeps failing).
 */
export class Operations extends Construct {
  readonly autoscaler: NodejsFunction;
  readonly indexer?: NodejsFunction;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    const { service, table, bucket } = props;

    const autoscaler = this.autoscaler = bridgecastFunction(this, 'Autoscaler', {
      lambda: 'autoscaler',
      description: 'Bridgecast autoscaler: desired tasks from publishers and egress',
      environment: {
        CLUSTER_NAME: service.cluster.clusterName,
        SERVICE_NAME: service.serviceName,
        METRICS_SERVICE_NAME: props.metricsServiceName,
        STREAMS_TABLE: table.tableName,
        METRICS_NAMESPACE: 'Bridgecast',
        MIN_TASKS: String(props.minTasks),
        MAX_TASKS: String(props.maxTasks),
        TARGET_PUBLISHERS_PER_TASK: '20',
        TARGET_EGRESS_MBPS_PER_TASK: '400',
        SCALE_OUT_COOLDOWN_SECONDS: '60',
        SCALE_IN_COOLDOWN_SECONDS: '600',
      },
    });
    autoscaler.addToRolePolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
      resources: [service.serviceArn],
    }));
    autoscaler.addToRolePolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['cloudwatch:GetMetricData'],
      resources: ['*'], // GetMetricData supports no resource-level permissions
    }));
    autoscaler.addToRolePolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['AUTOSCALER'] } },
    }));
    new Rule(this, 'EveryMinute', {
      description: 'Run the Bridgecast autoscaler',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(autoscaler, { retryAttempts: 0 })], // the next run is a minute away
    });

    if (props.indexRecordings) this.indexer = this.recordingIndexer(props);
  }

  private recordingIndexer({ table, bucket, hlsBaseUrl }: OperationsProps): NodejsFunction {
    const deadLetters = new Queue(this, 'RecordingEventsDlq', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const events = new Queue(this, 'RecordingEvents', {
      visibilityTimeout: Duration.seconds(INDEXER_TIMEOUT.toSeconds() * 6),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
    });
    // Only what the indexer reads (segments and end.json): a recording's
    // index.m3u8 is rewritten with every segment and would double the events.
    for (const suffix of RECORDING_EVENT_SUFFIXES) {
      bucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(events), { prefix: HLS_RECORDINGS_PREFIX, suffix });
    }

    const indexer = bridgecastFunction(this, 'RecordingIndexer', {
      lambda: 'recording',
      description: 'Bridgecast recording indexer: recordings index and VOD playlists from S3 events',
      environment: { STREAMS_TABLE: table.tableName, HLS_BUCKET: bucket.bucketName, HLS_BASE_URL: hlsBaseUrl },
      timeout: INDEXER_TIMEOUT,
    });
    indexer.addEventSource(new SqsEventSource(events, { batchSize: 10, maxBatchingWindow: Duration.seconds(5), reportBatchItemFailures: true }));
    indexer.addToRolePolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['s3:GetObject'],
      resources: [bucket.arnForObjects(`${HLS_RECORDINGS_PREFIX}*`)],
    }));
    indexer.addToRolePolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['s3:PutObject'],
      resources: [bucket.arnForObjects(`${HLS_RECORDINGS_PREFIX}*/vod.m3u8`)],
    }));
    // Segment items (PutItem), recording items (UpdateItem), both read back
    // (Query): only in stream partitions, never the autoscaler's.
    indexer.addToRolePolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${STREAM_PK_PREFIX}*`] } },
    }));
    return indexer;
  }
}
