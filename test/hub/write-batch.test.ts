/** Merged viewer writes: what reaches the socket, when, and in what order. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ViewerWriteBatch, WriteFlusher, type BatchSink } from '@bridgecast/media/hub/write-batch.js';

/** A sink that records each corked group as one "syscall". */
function recordingSink(): BatchSink & { writes: string[][]; corked: number } {
  const sink = {
    writes: [] as string[][],
    corked: 0,
    group: null as string[] | null,
    cork() { sink.corked++; sink.group = []; },
    uncork() { if (sink.group) sink.writes.push(sink.group); sink.group = null; },
    write(chunk: Buffer) { if (sink.group) sink.group.push(chunk.toString()); else sink.writes.push([chunk.toString()]); },
  };
  return sink;
}

test('without a flusher or with a 0 ms window every write goes straight to the socket', () => {
  for (const flusher of [undefined, new WriteFlusher(0)]) {
    const sink = recordingSink();
    const batch = new ViewerWriteBatch(sink, flusher);
    batch.write(Buffer.from('a'));
    batch.write(Buffer.from('b'));
    assert.deepEqual(sink.writes, [['a'], ['b']]);
    assert.equal(batch.pendingBytes, 0);
  }
});

test('within the window writes are held, counted as backlog, and leave in order as one corked write', async () => {
  const flusher = new WriteFlusher(15);
  const sinks = [recordingSink(), recordingSink()];
  const batches = sinks.map((s) => new ViewerWriteBatch(s, flusher));
  batches[0]!.write(Buffer.from('v1'));
  batches[1]!.write(Buffer.from('x'));
  batches[0]!.write(Buffer.from('a22'));
  assert.deepEqual(sinks[0]!.writes, [], 'nothing written before the window ends');
  assert.equal(batches[0]!.pendingBytes, 5, 'held bytes count against the viewer backlog');
  await sleep(40);
  assert.deepEqual(sinks[0]!.writes, [['v1', 'a22']]);
  assert.deepEqual(sinks[1]!.writes, [['x']]);
  assert.equal(batches[0]!.pendingBytes, 0);
  batches[0]!.write(Buffer.from('next'));
  await sleep(40);
  assert.deepEqual(sinks[0]!.writes, [['v1', 'a22'], ['next']], 'a later write opens a new window');
});

test('flush() sends what is held at once (end of stream), and a flushed batch is not written twice', async () => {
  const flusher = new WriteFlusher(15);
  const sink = recordingSink();
  const batch = new ViewerWriteBatch(sink, flusher);
  batch.write(Buffer.from('last'));
  batch.flush();
  assert.deepEqual(sink.writes, [['last']]);
  await sleep(40);
  assert.deepEqual(sink.writes, [['last']]);
  assert.equal(sink.corked, 1);
});
