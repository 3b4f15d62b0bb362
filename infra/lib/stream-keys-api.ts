import { CfnOutput } from 'aws-cdk-lib';
import { HttpApi, HttpMethod, CfnStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { STREAM_PK_PREFIX, STREAMS_TABLE_SCHEMA } from '@bridgecast/contracts';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { bridgecastFunction } from './lambda-function.js';

export interface StreamKeysApiProps {
  table: Table;
  ingestHost: string;
  hlsBaseUrl: string;
  flvBaseUrl: string;
  rtmpPort: number;
  kcpPort: number;
  /** RTMPS on the ingest host, when the NLB offers it. */
  rtmpsPort?: number;
  /** The KCP port's FEC (`10,3` or `off`), put in the kcp:// URLs the API hands out. */
  kcpFec: string;
  /** Private playback: the secret holding the signing key and the key group's public keys. */
  playbackSigning?: { signingKey: ISecret; publicKeysJson: string };
}

/**
 * The stream-keys API: the Lambda behind an HTTP API with IAM
 * authorization (the news app's backend signs its calls with SigV4; there
 * are no public callers), access-logged.
 */
export class StreamKeysApi extends Construct {
  readonly api: HttpApi;
  readonly handler: NodejsFunction;

  constructor(scope: Construct, id: string, props: StreamKeysApiProps) {
    super(scope, id);
    const handler = this.handler = bridgecastFunction(this, 'Handler', {
      lambda: 'stream-keys',
      description: 'Bridgecast stream keys API: issue, list, rotate, revoke keys; list recordings',
      environment: {
        STREAMS_TABLE: props.table.tableName,
        INGEST_HOST: props.ingestHost,
        HLS_BASE_URL: props.hlsBaseUrl,
        FLV_BASE_URL: props.flvBaseUrl,
        RTMP_PORT: String(props.rtmpPort),
        KCP_PORT: String(props.kcpPort),
        KCP_FEC: props.kcpFec,
        ...(props.rtmpsPort ? { RTMPS_PORT: String(props.rtmpsPort) } : {}),
        // The secret's ARN, never its value: the Lambda reads the key at run time.
        ...(props.playbackSigning ? {
          PLAYBACK_SIGNING_SECRET_ARN: props.playbackSigning.signingKey.secretArn,
          PLAYBACK_PUBLIC_KEYS: props.playbackSigning.publicKeysJson,
        } : {}),
      },
    });
    props.playbackSigning?.signingKey.grantRead(handler);
    // What StreamKeyStore does: GetItem, Query (recordings; the keyHash index
    // for resolveKey), Scan (listStreams), PutItem (create), UpdateItem
    // (rotate, revoke); writes only in stream partitions. No DeleteItem, no batch writes.
    handler.addToRolePolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan'],
      resources: [props.table.tableArn, `${props.table.tableArn}/index/${STREAMS_TABLE_SCHEMA.keyHashIndex.name}`],
    }));
    handler.addToRolePolicy(new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
      resources: [props.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${STREAM_PK_PREFIX}*`] } },
    }));

    this.api = new HttpApi(this, 'Api', {
      description: 'Bridgecast stream keys (IAM-authorized)',
      defaultAuthorizer: new HttpIamAuthorizer(),
      createDefaultStage: true,
    });
    const integration = new HttpLambdaIntegration('Keys', handler);
    for (const path of ['/streams', '/streams/{proxy+}']) {
      this.api.addRoutes({ path, methods: [HttpMethod.ANY], integration });
    }
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_YEAR });
    const stage = this.api.defaultStage!.node.defaultChild as CfnStage;
    stage.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      format: JSON.stringify({
        requestId: '$context.requestId', ip: '$context.identity.sourceIp', caller: '$context.identity.caller',
        user: '$context.identity.user', requestTime: '$context.requestTime', routeKey: '$context.routeKey', status: '$context.status',
      }),
    };
    new CfnOutput(scope, 'ApiUrl', { value: this.api.apiEndpoint, description: 'Stream-keys API (SigV4): bridgecast keys --api <this>' });
  }
}
