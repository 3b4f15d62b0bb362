/**
 * The as-deployed harness's IAM proxy, checked against what AWS documents:
 * a refused DynamoDB call is HTTP 400 AccessDeniedException, a refused S3
 * call 403 AccessDenied; a missing S3 key reads as 404 NoSuchKey only to a
 * role allowed s3:ListBucket, else 403; dynamodb:LeadingKeys conditions
 * hold per partition key; ForAllValues holds for a request without keys
 * (a Scan), as AWS evaluates it. The SDK clients are the real ones.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { AwsPolicyProxy } from '../helpers/as-deployed/aws-proxy.js';
import type { PolicyStatement } from '../helpers/as-deployed/template.js';

const REGION = 'ap-northeast-2';
const TABLE_ARN = `arn:aws:dynamodb:${REGION}:123456789012:table/streams`;
let dir: string;
let db: ReturnType<typeof dynalite>;
let s3server: S3rver;
let proxy: AwsPolicyProxy;

const clients = (statements: PolicyStatement[]) => {
  const credentials = proxy.credentialsFor('test-role', statements);
  return {
    ddb: new DynamoDBClient({ endpoint: proxy.url, region: REGION, credentials, maxAttempts: 1 }),
    s3: new S3Client({ endpoint: proxy.url, region: REGION, credentials, forcePathStyle: true, maxAttempts: 1 }),
  };
};
const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; $metadata: { httpStatusCode: number } };
    return `${e.$metadata.httpStatusCode} ${e.name}`;
  }
  return 'ok';
};

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-proxy-'));
  db = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => db.listen(0, '127.0.0.1', () => resolve()));
  const dynamodbUrl = `http://127.0.0.1:${(db.address() as AddressInfo).port}`;
  const admin = new DynamoDBClient({ endpoint: dynamodbUrl, region: REGION, credentials: { accessKeyId: 'a', secretAccessKey: 'a' } });
  await admin.send(new CreateTableCommand({
    TableName: 'streams', BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
  }));
  admin.destroy();
  s3server = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: 'hls', configs: [] }] });
  const { port } = await s3server.run();
  proxy = await new AwsPolicyProxy({
    account: '123456789012', region: REGION, dynamodbUrl, s3Url: `http://127.0.0.1:${port}`,
    tables: [{ name: 'streams', partitionKey: 'pk', indexes: {} }],
    ecs: async () => ({ body: {} }), cloudwatch: async () => ({ body: {} }),
  }).start();
});
after(async () => {
  await proxy.close();
  await s3server.close();
  await new Promise<void>((resolve) => db.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe('the IAM proxy answers as AWS does', () => {
  it('DynamoDB: a call no statement allows is 400 AccessDeniedException; LeadingKeys conditions apply per partition', async () => {
    const { ddb } = clients([
      { Effect: 'Allow', Action: ['dynamodb:PutItem', 'dynamodb:GetItem'], Resource: TABLE_ARN, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['STREAM#*'] } } },
    ]);
    assert.equal(await failure(ddb.send(new PutItemCommand({ TableName: 'streams', Item: { pk: { S: 'STREAM#a' }, sk: { S: 'x' } } }))), 'ok');
    assert.equal(await failure(ddb.send(new PutItemCommand({ TableName: 'streams', Item: { pk: { S: 'AUTOSCALER' }, sk: { S: 'x' } } }))), '400 AccessDeniedException');
    assert.equal(await failure(ddb.send(new ScanCommand({ TableName: 'streams' }))), '400 AccessDeniedException', 'Scan is not granted');
    assert.equal(proxy.denials().length, 2);
  });

  it('DynamoDB: ForAllValues holds for a Scan, which carries no leading keys (AWS\'s evaluation, a known trap)', async () => {
    const { ddb } = clients([{ Effect: 'Allow', Action: 'dynamodb:Scan', Resource: TABLE_ARN, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['STREAM#*'] } } }]);
    assert.equal(await failure(ddb.send(new ScanCommand({ TableName: 'streams' }))), 'ok');
  });

  it('S3: refused is 403 AccessDenied; a missing key is 403 without s3:ListBucket and 404 NoSuchKey with it', async () => {
    const readOnly = clients([{ Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::hls/live/*' }]);
    assert.equal(await failure(readOnly.s3.send(new PutObjectCommand({ Bucket: 'hls', Key: 'recordings/x.ts', Body: 'x' }))), '403 AccessDenied');
    assert.equal(await failure(readOnly.s3.send(new PutObjectCommand({ Bucket: 'hls', Key: 'live/a/index.m3u8', Body: '#EXTM3U' }))), 'ok');
    assert.equal(await failure(readOnly.s3.send(new GetObjectCommand({ Bucket: 'hls', Key: 'live/a/index.m3u8' }))), 'ok');
    assert.equal(await failure(readOnly.s3.send(new GetObjectCommand({ Bucket: 'hls', Key: 'live/missing/index.m3u8' }))), '403 AccessDenied');
    const prefixList = clients([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::hls/live/*' },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::hls', Condition: { StringLike: { 's3:prefix': ['live/*'] } } },
    ]);
    assert.equal(await failure(prefixList.s3.send(new GetObjectCommand({ Bucket: 'hls', Key: 'live/missing/index.m3u8' }))), '403 AccessDenied',
      'a GetObject carries no s3:prefix, so a prefix-conditioned ListBucket does not make it a 404');
    const lister = clients([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::hls/live/*' },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::hls' },
    ]);
    assert.equal(await failure(lister.s3.send(new GetObjectCommand({ Bucket: 'hls', Key: 'live/missing/index.m3u8' }))), '404 NoSuchKey');
  });

  it('unknown credentials are refused and recorded', async () => {
    const ddb = new DynamoDBClient({ endpoint: proxy.url, region: REGION, credentials: { accessKeyId: 'AKIANOBODY', secretAccessKey: 'x' }, maxAttempts: 1 });
    assert.notEqual(await failure(ddb.send(new GetItemCommand({ TableName: 'streams', Key: { pk: { S: 'STREAM#a' }, sk: { S: 'x' } } }))), 'ok');
    assert.ok(proxy.unmapped.some((u) => u.includes('unknown credentials')));
  });
});
