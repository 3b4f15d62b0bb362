/**
 * The playback credential format, checked against CloudFront's documented
 * procedure and rules
 * (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-setting-signed-cookie-custom-policy.html):
 * the signature is what `openssl sha1 -sign key.pem | openssl base64 | tr '+=/' '-_~'`
 * makes of the whitespace-free policy; one statement only; `*` and `?`
 * wildcards in Resource; DateLessThan, DateGreaterThan and IpAddress
 * conditions. Every refusal says why.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  addressInCidr, issuePlaybackCredential, normalizeViewerIp, policyJson, resourceMatches, signPolicy, signerFor,
  toCloudFrontBase64, verifySignedPolicy,
} from '@bridgecast/stream-keys';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signer = { keyPairId: 'K2JCJMDEHXQW5F', privateKey };
const verifier = new Map([[signer.keyPairId, publicKey]]);
const NOW = 1_800_000_000;

test('the signature is the one CloudFront\'s openssl procedure makes, in its URL-safe base64', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-sig-'));
  try {
    const keyFile = path.join(dir, 'private.pem');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const json = policyJson('https://video.example/live/st_abc/*', { expiresAt: NOW, viewerIp: '203.0.113.7' });
    assert.equal(json, '{"Statement":[{"Resource":"https://video.example/live/st_abc/*","Condition":{"DateLessThan":{"AWS:EpochTime":1800000000},"IpAddress":{"AWS:SourceIp":"203.0.113.7/32"}}}]}');
    const openssl = spawnSync('sh', ['-c', `printf %s '${json}' | openssl sha1 -sign ${keyFile} | openssl base64 -A | tr '+=/' '-_~'`], { encoding: 'utf8' });
    assert.equal(openssl.status, 0, openssl.stderr);
    const signed = signPolicy(signer, 'https://video.example/live/st_abc/*', { expiresAt: NOW, viewerIp: '203.0.113.7' });
    assert.equal(signed.signature, openssl.stdout.trim());
    assert.equal(signed.policy, toCloudFrontBase64(Buffer.from(json)));
    assert.doesNotMatch(signed.policy + signed.signature, /[+=/]/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('verification: signature, key id, expiry, start, resource and address, each refusal with its reason', () => {
  const url = 'https://video.example/live/st_abc/index.m3u8';
  const check = (parts: Parameters<typeof verifySignedPolicy>[1], at = NOW - 10, address = '198.51.100.4') => verifySignedPolicy(verifier, parts, url, address, at);
  const good = signPolicy(signer, 'https://video.example/live/st_abc/*', { expiresAt: NOW });
  assert.deepEqual(check(good), { ok: true });
  assert.deepEqual(check(good, NOW), { ok: false, reason: 'expired' }, 'DateLessThan is exclusive');
  assert.deepEqual(check({ ...good, keyPairId: 'KOTHER' }), { ok: false, reason: 'unknown_key' });
  assert.deepEqual(check({ ...good, signature: signPolicy(signer, 'x', { expiresAt: NOW }).signature }), { ok: false, reason: 'bad_signature' });
  assert.deepEqual(check({ policy: good.policy }), { ok: false, reason: 'missing' });
  assert.deepEqual(check({ ...good, policy: 'not base64!' }), { ok: false, reason: 'malformed' });
  const other = signPolicy(signer, 'https://video.example/live/st_other/*', { expiresAt: NOW });
  assert.deepEqual(check(other), { ok: false, reason: 'wrong_resource' });
  const bound = signPolicy(signer, 'https://video.example/live/st_abc/*', { expiresAt: NOW, viewerIp: '203.0.113.0/24' });
  assert.deepEqual(check(bound, NOW - 10, '203.0.113.200'), { ok: true });
  assert.deepEqual(check(bound, NOW - 10, '::ffff:203.0.113.9'), { ok: true }, 'IPv4-mapped form as sockets report it');
  assert.deepEqual(check(bound, NOW - 10, '203.0.114.1'), { ok: false, reason: 'wrong_address' });

  // Hand-made policies: a start date, two statements (CloudFront takes one), an unknown condition.
  const signRaw = (json: string) => ({ policy: toCloudFrontBase64(Buffer.from(json)), signature: toCloudFrontBase64(sign('sha1', Buffer.from(json), privateKey)), keyPairId: signer.keyPairId });
  const statement = (condition: object) => ({ Resource: 'https://video.example/*', Condition: { DateLessThan: { 'AWS:EpochTime': NOW }, ...condition } });
  assert.deepEqual(check(signRaw(JSON.stringify({ Statement: [statement({ DateGreaterThan: { 'AWS:EpochTime': NOW - 5 } })] }))), { ok: false, reason: 'not_yet_valid' });
  assert.deepEqual(check(signRaw(JSON.stringify({ Statement: [statement({}), statement({})] }))), { ok: false, reason: 'malformed' });
  assert.deepEqual(check(signRaw(JSON.stringify({ Statement: [statement({ Referer: 'x' })] }))), { ok: false, reason: 'malformed' });
});

test('Resource wildcards: * any run of characters (slashes too), ? exactly one; the rest literal', () => {
  assert.equal(resourceMatches('https://v.example/live/st_a/*', 'https://v.example/live/st_a/index.m3u8'), true);
  assert.equal(resourceMatches('https://v.example/live/st_a/*', 'https://v.example/live/st_ab/index.m3u8'), false, 'a stream id is not a prefix of another\'s path');
  assert.equal(resourceMatches('https://v.example/recordings/st_a/*', 'https://v.example/recordings/st_a/20261206-ab12/3.ts'), true);
  assert.equal(resourceMatches('https://v.example/live/st_a/*', 'http://v.example/live/st_a/index.m3u8'), false, 'scheme is part of it');
  assert.equal(resourceMatches('https://v.example/live/st_?/*', 'https://v.example/live/st_b/x'), true);
  assert.equal(resourceMatches('https://v.example/a.b', 'https://v.example/aXb'), false, 'dots are literal');
});

test('viewer addresses: a bare address is one host; CIDR ranges of both families; garbage is refused', () => {
  assert.equal(normalizeViewerIp('203.0.113.7'), '203.0.113.7/32');
  assert.equal(normalizeViewerIp('2001:db8::1'), '2001:db8::1/128');
  assert.equal(normalizeViewerIp('10.0.0.0/8'), '10.0.0.0/8');
  for (const bad of ['', 'localhost', '1.2.3.4/33', '1.2.3.4/x', '1.2.3/24', '::1/129', '1.2.3.4/8/1']) assert.throws(() => normalizeViewerIp(bad), /viewerIp/, bad);
  assert.equal(addressInCidr('2001:db8::5', '2001:db8::/64'), true);
  assert.equal(addressInCidr('2001:db9::5', '2001:db8::/64'), false);
  assert.equal(addressInCidr('203.0.113.7', '2001:db8::/64'), false, 'families never match each other');
});

test('a credential covers one stream: cookies per path, a token for the stream; the signer finds its key id among the group\'s keys', () => {
  const credential = issuePlaybackCredential(signer, 'https://video.example/', 'live', 'st_abc', { expiresAt: NOW });
  assert.deepEqual(credential.cookies.map((c) => `${c.path} ${c.name}`), [
    '/live/st_abc/ CloudFront-Policy', '/live/st_abc/ CloudFront-Signature', '/live/st_abc/ CloudFront-Key-Pair-Id',
    '/recordings/st_abc/ CloudFront-Policy', '/recordings/st_abc/ CloudFront-Signature', '/recordings/st_abc/ CloudFront-Key-Pair-Id',
  ]);
  assert.equal(credential.token.split('.').length, 3);
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  assert.equal(signerFor(privateKey, new Map([['KOLD', other.publicKey], ['KNEW', publicKey]])).keyPairId, 'KNEW');
  assert.throws(() => signerFor(privateKey, new Map([['KOLD', other.publicKey]])), /matches none/);
});
