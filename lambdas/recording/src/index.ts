import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pino from 'pino';
import { createRecordingHandler } from './handler.js';
import { RecordingIndexer } from './indexer.js';

/** Lambda entry: S3 ObjectCreated events for `recordings/` through SQS. Env: STREAMS_TABLE, HLS_BUCKET, HLS_PREFIX (optional). */
function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'bridgecast-recording-indexer' } });
const indexer = new RecordingIndexer({
  s3: new S3Client({}),
  db: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  table: requiredEnv('STREAMS_TABLE'),
  bucket: requiredEnv('HLS_BUCKET'),
  prefix: process.env.HLS_PREFIX ?? '',
  logger,
});

export const handler = createRecordingHandler(indexer, logger);
