import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { verifySignedPolicy } from '@bridgecast/stream-keys';
import { startTestTable, apiEvent, type TestTable } from './fixtures.js';

let table: TestTable;
before(async () => {
  table = await startTestTable();
});
after(() => table.close());

/**
 * Secrets Manager has no local server, so this stands in for its
 * GetSecretValue (JSON 1.1 protocol, X-Amz-Target) and records the calls.
 */
async function fakeSecretsManager(secrets: Record<string, string>): Promise<{ endpoint: string; calls: string[]; close(): void }> {
  const calls: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      calls.push(`${String(req.headers['x-amz-target'])} ${SecretId}`);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ ARN: SecretId, Name: 'playback', SecretString: secrets[SecretId] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, close: () => server.close() };
}

test('the Lambda entry point wires the handler from its environment, the playback signing key from Secrets Manager', async (t) => {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const secretArn = 'arn:aws:secretsmanager:ap-northeast-2:111122223333:secret:playback-AbCdEf';
  const secrets = await fakeSecretsManager({ [secretArn]: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string });
  t.after(() => secrets.close());
  Object.assign(process.env, {
    PLAYBACK_SIGNING_SECRET_ARN: secretArn,
    // Two keys in the group, as during a rotation: the one matching the secret's private key signs.
    PLAYBACK_PUBLIC_KEYS: JSON.stringify({
      K1OLDKEY: other.publicKey.export({ type: 'spki', format: 'pem' }),
      K2NEWKEY: keys.publicKey.export({ type: 'spki', format: 'pem' }),
    }),
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
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

  const privateStream = await handler(apiEvent('POST', '/prod/streams', { body: '{"name":"members","private":true}', stage: 'prod' }));
  assert.equal(privateStream.statusCode, 201, String(privateStream.body));
  const { streamId } = JSON.parse(String(privateStream.body)) as { streamId: string };
  const issued = await handler(apiEvent('POST', `/prod/streams/${streamId}/playback`, { stage: 'prod' }));
  assert.equal(issued.statusCode, 200, String(issued.body));
  const credential = JSON.parse(String(issued.body)) as { cookies: { name: string; value: string; path: string }[] };
  const cookie = (name: string) => credential.cookies.find((c) => c.name === name && c.path === `/live/${streamId}/`)!.value;
  assert.equal(cookie('CloudFront-Key-Pair-Id'), 'K2NEWKEY', 'the id of the public key that matches the secret');
  const parts = { policy: cookie('CloudFront-Policy'), signature: cookie('CloudFront-Signature'), keyPairId: 'K2NEWKEY' };
  const verifier = new Map([['K2NEWKEY', keys.publicKey]]);
  assert.deepEqual(verifySignedPolicy(verifier, parts, `https://d111.cloudfront.net/live/${streamId}/index.m3u8`, '198.51.100.1'), { ok: true });
  assert.deepEqual(secrets.calls, [`secretsmanager.GetSecretValue ${secretArn}`], 'fetched once, cached for the next requests');
});
