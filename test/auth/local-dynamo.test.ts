import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { describeDemoStream, ensureDemoStream } from '@bridgecast/media/auth/demo-stream.js';
import { startTestTable } from '../stream-keys/fixtures.js';

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-dynamo-'));
after(() => rm(dataDir, { recursive: true, force: true }));

test('keys and the demo stream survive a restart of the embedded DynamoDB', async () => {
  const first = await startTestTable(dataDir);
  const demo = await ensureDemoStream(first.store, dataDir);
  assert.ok(demo?.created);
  assert.equal((await first.store.resolveKey(demo.streamKey))?.streamId, demo.streamId);
  const { streamKey: otherKey, stream: other } = await first.store.createStream('second');
  await first.close();

  const demoFile = path.join(dataDir, 'demo-stream.json');
  assert.equal((await stat(demoFile)).mode & 0o777, 0o600, 'the remembered demo key is private to the owner');
  assert.equal((await stat(path.join(dataDir, 'dynamodb'))).isDirectory(), true);

  const second = await startTestTable(dataDir);
  try {
    assert.equal((await second.store.resolveKey(otherKey))?.streamId, other.streamId, 'keys survive the restart');
    assert.deepEqual(await ensureDemoStream(second.store, dataDir), { ...demo, created: false }, 'the demo key is shown again');
    assert.equal((await second.store.listStreams({ limit: 10 })).items.length, 2, 'no second demo stream');
    assert.match(describeDemoStream(demo, '127.0.0.1', 1935, 8080), /Server: +rtmp:\/\/127\.0\.0\.1:1935\/live\n +Stream Key: +sk_/);

    // Once the demo key is rotated the remembered one is useless: nothing is printed and nothing created.
    await second.store.rotateKey(demo.streamId);
    assert.equal(await ensureDemoStream(second.store, dataDir), undefined);
    assert.equal((await second.store.listStreams({ limit: 10 })).items.length, 2);
  } finally {
    await second.close();
  }
  assert.ok(JSON.parse(await readFile(demoFile, 'utf8')).streamKey);
});

test('an in-memory table starts empty every time', async () => {
  const a = await startTestTable();
  await a.store.createStream('ephemeral');
  await a.close();
  const b = await startTestTable();
  assert.deepEqual(await b.scan(), []);
  await b.close();
});
