/**
 * RTMPS and HTTPS locally, with a certificate given by path (TLS_CERT_FILE,
 * TLS_KEY_FILE): ffmpeg publishes over rtmps:// with a stream key and
 * ffprobe reads the stream back over https://.../<id>.flv; the keys API
 * hands out the rtmps:// ingest URL. The certificate is self-signed, made
 * with openssl for the test; the clients are told to trust it (ffmpeg
 * with its CA file, Node with `ca`), so the handshake is fully verified.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { killAllChildren, lavfiEncodeArgs, packetsOf, probeMedia, spawnTracked } from '../helpers/ffmpeg.js';
import { startTestServer, waitForKeyframe } from '../helpers/media-server.js';

let dir: string;
let certFile: string;
let keyFile: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-tls-'));
  certFile = path.join(dir, 'cert.pem');
  keyFile = path.join(dir, 'key.pem');
  const made = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
});

after(async () => {
  await killAllChildren();
  await rm(dir, { recursive: true, force: true });
});

test('ffmpeg publishes over rtmps:// and ffprobe reads https://…/<id>.flv; the API hands out rtmps:// ingest', async (t) => {
  const server = await startTestServer({ auth: 'keys', tlsCertFile: certFile, tlsKeyFile: keyFile, rtmpsPort: 0, httpsPort: 0 });
  t.after(() => server.close());
  assert.ok(server.rtmpsPort && server.httpsPort);
  const created = await fetch(`${server.httpBase}/api/streams`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'tls-desk' }),
  });
  const stream = (await created.json()) as { streamId: string; streamKey: string; ingest: { rtmps?: string } };
  assert.equal(stream.ingest.rtmps, `rtmps://127.0.0.1:${server.rtmpsPort}/live/${stream.streamKey}`);

  // ffmpeg verifies the server against the test CA: a real, checked TLS session.
  const publisher = spawnTracked('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-nostdin', '-re', ...lavfiEncodeArgs(12),
    '-f', 'flv', '-tls_verify', '1', '-ca_file', certFile, stream.ingest.rtmps!,
  ]);
  t.after(() => publisher.stop(500));
  await waitForKeyframe(server.hub, stream.streamId, 15_000);
  assert.equal(server.hub.get('live', stream.streamId)?.publisher.protocol, 'rtmp', 'RTMPS sessions are RTMP sessions');

  const probe = await probeMedia(`https://127.0.0.1:${server.httpsPort}/live/${stream.streamId}.flv`, { readSeconds: 2, timeoutMs: 20_000 });
  assert.ok(probe.streams.some((s) => s.codec_name === 'h264'), 'H.264 over HTTPS-FLV');
  assert.ok(packetsOf(probe, 'video').length > 10, `${packetsOf(probe, 'video').length} video packets`);

  // The TLS endpoints present the given certificate, TLS 1.2 at least.
  const ca = await readFile(certFile);
  const socket = tls.connect({ host: '127.0.0.1', port: server.rtmpsPort!, ca, servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
  const old = await new Promise<string>((resolve) => {
    socket.once('secureConnect', () => resolve('connected'));
    socket.once('error', (err) => resolve(err.message));
  });
  socket.destroy();
  assert.notEqual(old, 'connected', 'TLS 1.1 is refused');
  const health = await new Promise<number>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: server.httpsPort, path: '/healthz', ca, servername: 'localhost' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).once('error', reject);
  });
  assert.equal(health, 200, 'HTTPS serves the same routes');
});
