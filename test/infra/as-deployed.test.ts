/**
 * The stack as deployed, run here (test/helpers/as-deployed/): the app is
 * synthesized as `cdk deploy` does it, the media service runs with the
 * image's CMD and the task definition's environment, the Lambdas from their
 * synthesized bundles, every AWS call through a proxy that enforces the
 * role's synthesized IAM policy. Any call a policy refuses fails the test.
 *
 * Local servers: dynalite (DynamoDB), s3rver (S3). No local server exists
 * for the ECS API, the ECS agent's task-protection endpoint, the task
 * metadata endpoint or CloudWatch metrics: those are stand-ins
 * (ecs-stand-ins.ts) behind the same policy proxy. CloudWatch is fed the
 * EMF documents the media service's own formatter writes; the real pipeline
 * (stdout → CloudWatch Logs → metrics) takes minutes and is not modelled.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers/as-deployed/synth.js';
import { after, before, describe, it } from 'node:test';
import { emfLine } from '@bridgecast/media/metrics/emf.js';
import { lavfiEncodeArgs } from '../helpers/ffmpeg.js';
import { parseMediaPlaylist } from '../helpers/hls-playlist.js';
import { AsDeployedStack, httpApiEvent, type RunningTask } from '../helpers/as-deployed/deployment.js';
import { assertNothingRefused, until } from '../helpers/as-deployed/checks.js';

let stack: AsDeployedStack;
let taskA: RunningTask;
let taskB: RunningTask;
let created: { streamId: string; streamKey: string; ingest: { rtmp: string; kcp: string } };
let firstWindow: { mediaSequence: number; segments: number; uris: string[] };

/** An object of the bucket as it stands in the S3 stand-in (read directly: the test's view, not a role's). */
async function s3Object(key: string): Promise<string | undefined> {
  const res = await fetch(`${stack.s3Url}/${stack.bucket}/${key}`);
  return res.ok ? res.text() : undefined;
}

async function s3Keys(prefix: string): Promise<string[]> {
  const res = await fetch(`${stack.s3Url}/${stack.bucket}?list-type=2&prefix=${encodeURIComponent(prefix)}&max-keys=1000`);
  const xml = await res.text();
  return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]!);
}

function publish(task: RunningTask, key: string, seconds: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', ...lavfiEncodeArgs(seconds), '-f', 'flv', `rtmp://127.0.0.1:${task.rtmpPort}/live/${key}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

after(() => {
  if (process.env.HARNESS_DEBUG) for (const [id, out] of stack.lambdaOutput) console.log(id, out.join(''), stack.proxy.unmapped);
});

before(async () => { stack = await AsDeployedStack.start(); });
after(async () => { await stack?.close(); });

/** A container builder is usable here (this development machine has no Docker daemon; CI machines may). */
const docker = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

describe('the media image', () => {
  it('builds from services/media/Dockerfile, as cdk deploy builds it', { skip: docker ? false : 'no Docker daemon: the harness below runs the image\'s CMD from the checkout instead' }, () => {
    const build = spawnSync('docker', ['build', '--platform', 'linux/amd64', '-f', 'services/media/Dockerfile', '-t', 'bridgecast-media:test', '.'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });
});

describe('the stack as deployed', () => {
  it('a task starts with the image\'s CMD and the task definition\'s environment, and stays up', async () => {
    const container = stack.mediaContainer();
    assert.equal(container.environment.STREAMS_TABLE, stack.table, 'the task uses the real table, not an embedded store');
    assert.equal(container.environment.HLS_BUCKET, stack.bucket);
    taskA = await stack.startTask();
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(taskA.exitCode, null, `the task exited:\n${taskA.output.join('\n')}`);
    assert.equal((await fetch(`http://127.0.0.1:${taskA.httpPort}/healthz`)).status, 200);
    assert.doesNotMatch(taskA.output.join('\n'), /sk_[A-Za-z0-9_-]{20,}/, 'no stream key in the logs');
    assertNothingRefused(stack);
  });

  it('a key created through the stream-keys Lambda publishes (ffmpeg), with the ingest URLs the NLB really listens on', async () => {
    const response = await stack.invoke<{ statusCode: number; body: string }>('Bridgecast stream keys', httpApiEvent('POST', '/streams', { name: 'Seoul desk' }));
    assert.equal(response.statusCode, 201, response.body);
    const body = JSON.parse(response.body) as { streamId: string; streamKey: string; ingest: { rtmp: string; kcp: string } };
    created = { streamId: body.streamId, streamKey: body.streamKey, ingest: body.ingest };
    const listeners = Object.values(stack.t.template.Resources).filter((r) => r.Type === 'AWS::ElasticLoadBalancingV2::Listener')
      .map((r) => `${String(r.Properties!.Protocol)}/${String(r.Properties!.Port)}`);
    assert.ok(listeners.includes(`TCP/${new URL(created.ingest.rtmp.replace(/^rtmp/, 'http')).port}`), `the RTMP URL names a TCP listener: ${created.ingest.rtmp} vs ${listeners.join(', ')}`);
    assert.ok(listeners.includes(`UDP/${new URL(created.ingest.kcp.replace(/^kcp/, 'http')).port}`), `the KCP URL names the UDP listener: ${created.ingest.kcp} vs ${listeners.join(', ')}`);

    const run = await publish(taskA, created.streamKey, 7);
    assert.equal(run.code, 0, run.stderr);
    // end.json is written last: once it is there, the live playlist is final for this broadcast.
    await until('the broadcast\'s end.json', async () => ((await s3Keys(`recordings/${created.streamId}/`)).some((k) => k.endsWith('/end.json')) ? true : undefined));
    const text = await s3Object(`live/${created.streamId}/index.m3u8`);
    assert.ok(text, 'the live playlist is in S3');
    const playlist = parseMediaPlaylist(text);
    assert.ok(playlist.segments.length >= 2, text);
    firstWindow = { mediaSequence: playlist.mediaSequenceBase ?? 0, segments: playlist.segments.length, uris: playlist.segments.map((x) => x.uri) };
    assert.equal(taskA.exitCode, null);
    assertNothingRefused(stack);
  });

  it('the live playlist continues its media sequence when the publisher moves to another task', async (t) => {
    taskB = await stack.startTask();
    const run = await publish(taskB, created.streamKey, 5);
    assert.equal(run.code, 0, run.stderr);
    const next = firstWindow.mediaSequence + firstWindow.segments;
    await until('task B\'s end.json', async () => ((await s3Keys(`recordings/${created.streamId}/`)).filter((k) => k.endsWith('/end.json')).length >= 2 ? true : undefined));
    const text = (await s3Object(`live/${created.streamId}/index.m3u8`))!;
    const playlist = parseMediaPlaylist(text);
    assert.ok((playlist.mediaSequenceBase ?? 0) + playlist.segments.length > next, `the playlist restarted instead of continuing after sequence ${next - 1}:\n${text}`);
    assert.ok((playlist.mediaSequenceBase ?? 0) >= firstWindow.mediaSequence, `media sequence went back: ${playlist.mediaSequenceBase} after ${firstWindow.mediaSequence}`);
    // Same media sequence number, same segment: what task A listed is still listed under its numbers.
    const base = playlist.mediaSequenceBase ?? 0;
    playlist.segments.forEach((segment, i) => {
      const inA = base + i - firstWindow.mediaSequence;
      if (inA >= 0 && inA < firstWindow.uris.length) assert.equal(segment.uri, firstWindow.uris[inA], `segment ${base + i} changed`);
    });
    const firstOfB = next - base;
    assert.ok(firstOfB >= 0 && playlist.segments[firstOfB]?.discontinuity, 'the new task\'s first segment follows an EXT-X-DISCONTINUITY');
    assert.ok(taskB.output.some((l) => l.includes('HLS live playlist continued')), 'task B read the playlist task A wrote');
    t.diagnostic(`task A window: media sequence ${firstWindow.mediaSequence}, ${firstWindow.segments} segments; after task B: media sequence ${playlist.mediaSequenceBase ?? 0}, ${playlist.segments.length} segments`);
    assertNothingRefused(stack);
  });

  it('two tasks as a cluster: a viewer on the other task gets the stream through a pull from its owner, a second publisher is refused, and the lease is released at the end', async (t) => {
    const liveOn = async (task: RunningTask) => ((await (await fetch(`http://127.0.0.1:${task.httpPort}/api/live`)).json()) as { streams: { name: string; task: { id: string; address: string } }[] }).streams;
    const running = publish(taskB, created.streamKey, 12);
    // Task A learns from the registry (Query on the table) that task B has the stream, at the address the metadata endpoint gave B.
    const listed = await until('the stream in task A\'s /api/live', async () => (await liveOn(taskA)).find((s) => s.name === created.streamId));
    assert.equal(listed.task.address, '127.0.0.1');
    assert.deepEqual((await liveOn(taskB)).map((s) => s.task.id), [listed.task.id], 'both tasks answer from the same registry');
    // An HTTP-FLV viewer on task A: A pulls from B (signed with the relay secret ECS gives both tasks).
    const viewer = await new Promise<number>((resolve, reject) => {
      const req = http.get(`http://127.0.0.1:${taskA.httpPort}/live/${created.streamId}.flv`, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`FLV on task A: HTTP ${res.statusCode}`));
        let bytes = 0;
        res.on('data', (d: Buffer) => {
          bytes += d.length;
          if (bytes > 100_000) { req.destroy(); resolve(bytes); }
        });
      });
      req.on('error', reject);
      setTimeout(() => { req.destroy(); reject(new Error('no media through task A within 15 s')); }, 15_000);
    });
    // The same key on task A while B's publisher is live: refused.
    const second = await publish(taskA, created.streamKey, 3);
    assert.notEqual(second.code, 0, 'the second publisher is refused');
    assert.ok(taskA.output.some((l) => l.includes('already being published')), 'task A refused it because of the lease');
    const first = await running;
    assert.equal(first.code, 0, first.stderr);
    await until('the lease released', async () => ((await liveOn(taskA)).length === 0 ? true : undefined), 10_000);
    t.diagnostic(`task A relayed ${viewer} bytes of task B's stream to its viewer`);
    assertNothingRefused(stack);
  });

  it('the recording indexer indexes a finished broadcast from the S3 events the bucket sends (through SQS)', async () => {
    const ends = await until('end.json of both broadcasts', async () => {
      const keys = (await s3Keys(`recordings/${created.streamId}/`)).filter((k) => k.endsWith('/end.json'));
      return keys.length >= 2 ? keys : undefined;
    });
    // The events S3 would send: one per created object that passes a notification filter of the template.
    const notifications = Object.values(stack.t.template.Resources).find((r) => r.Type === 'Custom::S3BucketNotifications')!.Properties!;
    const filters = ((notifications.NotificationConfiguration as { QueueConfigurations: { Filter: { Key: { FilterRules: { Name: string; Value: string }[] } } }[] }).QueueConfigurations)
      .map((q) => Object.fromEntries(q.Filter.Key.FilterRules.map((r) => [r.Name.toLowerCase(), r.Value])) as { prefix?: string; suffix?: string });
    const all = await s3Keys('recordings/');
    const sent = all.filter((key) => filters.some((f) => key.startsWith(f.prefix ?? '') && key.endsWith(f.suffix ?? '')));
    assert.ok(sent.every((k) => k.endsWith('.ts') || k.endsWith('/end.json')), `only segments and end.json raise events: ${sent.filter((k) => !k.endsWith('.ts') && !k.endsWith('/end.json')).join(', ')}`);
    assert.ok(all.some((k) => k.endsWith('/index.m3u8')) && !sent.some((k) => k.endsWith('/index.m3u8')), 'recording playlists raise no events');
    const s3Event = (key: string) => ({
      Records: [{ eventVersion: '2.1', eventSource: 'aws:s3', awsRegion: 'ap-northeast-2', eventName: 'ObjectCreated:Put',
        s3: { s3SchemaVersion: '1.0', bucket: { name: stack.bucket, arn: `arn:aws:s3:::${stack.bucket}` }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), size: 1 } } }],
    });
    for (let i = 0; i < sent.length; i += 10) {
      const batch = sent.slice(i, i + 10).map((key, n) => ({ messageId: `m${i + n}`, receiptHandle: 'r', body: JSON.stringify(s3Event(key)), attributes: {}, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:ap-northeast-2:123456789012:events', awsRegion: 'ap-northeast-2' }));
      const result = await stack.invoke<{ batchItemFailures: unknown[] }>('Bridgecast recording indexer', { Records: batch });
      assert.deepEqual(result.batchItemFailures, []);
    }
    for (const end of ends) assert.ok(await s3Object(end.replace(/end\.json$/, 'vod.m3u8')), `vod.m3u8 next to ${end}`);
    const listed = await stack.invoke<{ statusCode: number; body: string }>('Bridgecast stream keys', httpApiEvent('GET', `/streams/${created.streamId}/recordings`));
    assert.equal(listed.statusCode, 200, listed.body);
    const recordings = (JSON.parse(listed.body) as { items: { status: string; url?: string }[] }).items;
    // Every broadcast whose end.json the indexer was sent is complete: the two of the playlist test, and the
    // cluster test's (same key) when its end.json was already uploaded at the listing above (a race, so counted).
    const finished = sent.filter((k) => k.startsWith(`recordings/${created.streamId}/`) && k.endsWith('/end.json')).length;
    assert.ok(finished >= 2, `end.json of both broadcasts sent: ${finished}`);
    assert.equal(recordings.filter((r) => r.status === 'complete').length, finished, listed.body);
    assertNothingRefused(stack);
  });

  it('the autoscaler reads the tasks\' metrics and sets the service\'s count', async (t) => {
    const env = stack.mediaContainer().environment;
    const service = [...stack.ecs.services.values()][0]!;
    service.desiredCount = 2;
    service.runningCount = 2;
    // The last complete minute the autoscaler reads (INGESTION_DELAY_MS = 60 s): 30 publishers on each task. The
    // next minute too, in case the invocation (seconds on a loaded machine) starts after the minute turned.
    const minute = Math.floor((Date.now() - 60_000) / 60_000) * 60_000 - 60_000;
    for (const bucket of [minute, minute + 60_000]) {
      for (const taskId of ['a', 'b']) {
        stack.cloudwatch.ingestEmf(emfLine({ namespace: env.METRICS_NAMESPACE!, serviceName: env.METRICS_SERVICE_NAME!, taskId },
          { publishers: 30, viewers: 100, ingestBitsPerSecond: 75e6, egressBitsPerSecond: 250e6, kcpRetransmitRatio: 0, kcpRttMs: 0 }, bucket + 30_000));
      }
    }
    const decision = await stack.invoke<{ desired: number; direction: string }>('Bridgecast autoscaler', { source: 'aws.events', 'detail-type': 'Scheduled Event' });
    assert.equal(decision.direction, 'out', JSON.stringify(decision));
    assert.ok(decision.desired > 2);
    assert.equal(service.desiredCount, decision.desired, 'UpdateService set the count it decided');
    t.diagnostic(`60 publishers on 2 tasks: desired count 2 -> ${service.desiredCount}`);
    assertNothingRefused(stack);
  });

  it('task protection was taken while publishing and is released once idle', async (t) => {
    const history = () => stack.ecs.protectionHistory.filter(([arn]) => arn === taskA.taskArn).map(([, on]) => on);
    assert.ok(history().includes(true), 'protected while the publisher was live');
    await until('protection released after the idle grace', () => (history().at(-1) === false ? true : undefined), 60_000);
    t.diagnostic(`task A protection changes: ${history().join(' -> ')}`);
    assertNothingRefused(stack);
  });
});
