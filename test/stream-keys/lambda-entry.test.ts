import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestTable, apiEvent, type TestTable } from './fixtures.js';

let table: TestTable;
before(async () => {
  table = await startTestTable();
});
after(() => table.close());

test('the Lambda entry point wires the handler from its environment', async () => {
  Object.assign(process.env, {
    STREAMS_TABLE: table.dynamo.tableName,
    INGEST_HOST: 'ingest.example.com',
    HLS_BASE_URL: 'https://d111.cloudfront.net',
    FLV_BASE_URL: 'https://flv.example.com',
    LOG_LEVEL: 'silent',
    // The SDK's per-service endpoint override: the entry's default client talks to dynalite.
    AWS_ENDPOINT_URL_DYNAMODB: table.dynamo.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  });
  const { handler } = await import('@bridgecast/stream-keys/lambda');
  const created = await handler(apiEvent('POST', '/prod/streams', { body: '{"name":"from-lambda"}', stage: 'prod' }));
  assert.equal(created.statusCode, 201, String(created.body));
  const body = JSON.parse(String(created.body));
  assert.match(body.ingest.rtmp, /^rtmp:\/\/ingest\.example\.com:1935\/live\/sk_/);
  assert.equal(body.playback.hls, `https://d111.cloudfront.net/live/${body.streamId}/index.m3u8`);
  assert.equal((await table.store.resolveKey(body.streamKey))?.streamId, body.streamId);
});
