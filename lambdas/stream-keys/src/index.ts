import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pino from 'pino';
import { createStreamKeysHandler } from './handler.js';
import { StreamKeyStore } from './store.js';

/**
 * Lambda entry: the stream-keys API behind API Gateway (HTTP API, payload
 * v2). Env: STREAMS_TABLE, INGEST_HOST, HLS_BASE_URL, FLV_BASE_URL; optional
 * RTMP_PORT / KCP_PORT (1935), and BASE_PATH when a custom domain maps the
 * API under a path.
 */
function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

const client = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });

export const handler = createStreamKeysHandler({
  store: new StreamKeyStore(client, requiredEnv('STREAMS_TABLE')),
  urls: {
    ingestHost: requiredEnv('INGEST_HOST'),
    rtmpPort: Number(process.env.RTMP_PORT || 1935),
    kcpPort: Number(process.env.KCP_PORT || 1935),
    hlsBaseUrl: requiredEnv('HLS_BASE_URL'),
    flvBaseUrl: requiredEnv('FLV_BASE_URL'),
  },
  logger: pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'bridgecast-stream-keys' } }),
  basePath: process.env.BASE_PATH ?? '',
});
