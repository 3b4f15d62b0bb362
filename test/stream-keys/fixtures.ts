import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { StreamKeyStore } from '@bridgecast/stream-keys';
import type { StreamUrlConfig } from '@bridgecast/stream-keys';
import { startLocalDynamo, type LocalDynamo } from '@bridgecast/media/auth/local-dynamo.js';

/** Shared by the stream-keys, authorizer, adapter and CLI tests: a real dynalite and a store over it. */

export const TEST_URLS: StreamUrlConfig = {
  ingestHost: 'ingest.test',
  rtmpPort: 1935,
  kcpPort: 1935,
  hlsBaseUrl: 'https://cdn.test/hls/',
  flvBaseUrl: 'https://flv.test',
};

export interface TestTable {
  dynamo: LocalDynamo;
  store: StreamKeyStore;
  /** Every item in the table, for proving what was (not) written. */
  scan(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export async function startTestTable(dataDir?: string): Promise<TestTable> {
  const dynamo = await startLocalDynamo({ dataDir });
  return {
    dynamo,
    store: new StreamKeyStore(dynamo.client, dynamo.tableName),
    scan: async () => (await dynamo.client.send(new ScanCommand({ TableName: dynamo.tableName }))).Items ?? [],
    close: () => dynamo.close(),
  };
}

export interface EventOptions {
  body?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  isBase64Encoded?: boolean;
  stage?: string;
}

/** An API Gateway HTTP API (payload v2) event as the service would receive it. */
export function apiEvent(method: string, rawPath: string, options: EventOptions = {}): APIGatewayProxyEventV2 {
  const query = options.query ?? {};
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: new URLSearchParams(query).toString(),
    headers: options.body !== undefined ? { 'content-type': 'application/json', ...options.headers } : { ...options.headers },
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(options.body !== undefined ? { body: options.body } : {}),
    isBase64Encoded: options.isBase64Encoded ?? false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.test',
      domainPrefix: 'api',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: options.stage ?? '$default',
      time: '01/Jan/2030:00:00:00 +0000',
      timeEpoch: 0,
    },
  };
}
