import assert from 'node:assert/strict';
import { test } from 'node:test';
import { credentialedPlayUrls, ingestUrls, kcpFecUrlValue } from '@bridgecast/stream-keys';
import { TEST_URLS } from './fixtures.js';

// A KCP client without the server's FEC never connects (the datagrams do not
// parse), so a kcp:// URL handed out for a port with FEC must say so.
test('kcp:// URLs carry the KCP port\'s FEC when it is on, and only then', () => {
  const withFec = { ...TEST_URLS, kcpFec: '10:3' };
  assert.equal(ingestUrls(withFec, 'sk_key').kcp, 'kcp://ingest.test:1935/live/sk_key?fec=10:3');
  assert.equal(credentialedPlayUrls(withFec, 'st_id', 'a b').kcp, 'kcp://ingest.test:1935/live/st_id?token=a%20b&fec=10:3');
  assert.equal(ingestUrls(TEST_URLS, 'sk_key').kcp, 'kcp://ingest.test:1935/live/sk_key');
  assert.equal(credentialedPlayUrls(TEST_URLS, 'st_id', 't').kcp, 'kcp://ingest.test:1935/live/st_id?token=t');
  // The RTMP URLs never get it.
  assert.equal(ingestUrls(withFec, 'sk_key').rtmp, 'rtmp://ingest.test:1935/live/sk_key');
});

test('KCP_FEC as the Lambda reads it: 10,3 → 10:3; off or unset → none; anything else refused', () => {
  assert.equal(kcpFecUrlValue('10,3'), '10:3');
  assert.equal(kcpFecUrlValue(' 4,2 '), '4:2');
  assert.equal(kcpFecUrlValue('off'), undefined);
  assert.equal(kcpFecUrlValue(undefined), undefined);
  assert.equal(kcpFecUrlValue(''), undefined);
  assert.throws(() => kcpFecUrlValue('10:3'), /KCP_FEC must be/);
});
