/**
 * Local HLS serving: the playlists and segments the service writes under
 * DATA_DIR/hls are served with the content types, cache headers and CORS
 * the CDN setup uses, segments resolve through the playlist's relative
 * URLs, and nothing outside the HLS layout can be reached.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { killAllChildren, startPublisher } from '../helpers/ffmpeg.js';
import { startTestServer, waitFor } from '../helpers/media-server.js';

after(killAllChildren);

test('serves live playlists and segments with cache headers and CORS, and refuses paths outside the layout', async (t) => {
  const server = await startTestServer({ hlsEnabled: true, hlsSegmentSeconds: 1, hlsWindow: 3 });
  t.after(() => server.close());
  startPublisher(server.rtmpUrl('cam-1.main'), { seconds: 20, gopSeconds: 1 });

  const playlistUrl = `${server.httpBase}/live/cam-1.main/index.m3u8`;
  const playlist = await waitFor(async () => {
    const res = await fetch(playlistUrl);
    const text = res.ok ? await res.text() : '';
    return text.includes('.ts') ? { res, text } : undefined;
  }, 20_000, 'a live playlist with a segment');
  assert.equal(playlist.res.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  assert.equal(playlist.res.headers.get('cache-control'), 'public, max-age=1');
  assert.equal(playlist.res.headers.get('access-control-allow-origin'), '*');

  const segmentUri = playlist.text.split('\n').find((line) => line.endsWith('.ts'))!;
  const segment = await fetch(new URL(segmentUri, playlistUrl));
  assert.equal(segment.status, 200);
  assert.equal(segment.headers.get('content-type'), 'video/mp2t');
  assert.match(segment.headers.get('cache-control')!, /max-age=31536000, immutable/);
  const body = Buffer.from(await segment.arrayBuffer());
  assert.ok(body.length > 0 && body.length % 188 === 0 && body[0] === 0x47, 'an MPEG-TS segment');

  const metrics = await (await fetch(`${server.httpBase}/metrics`)).text();
  assert.match(metrics, /bridgecast_hls_segments_written_total [1-9]/);
  assert.doesNotMatch(metrics, /bridgecast_viewers\{protocol="hls"\}/, 'the HLS writer is not counted as a viewer');

  const head = await fetch(playlistUrl, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');

  for (const path of [
    '/live/nope/index.m3u8',
    '/live/..%2F..%2F..%2Fetc/index.m3u8',
    '/recordings/cam-1.main/..%2F..%2F..%2Fetc/passwd.ts',
    '/recordings/%2e%2e/x/y.ts',
    '/live/cam-1.main/../../dynamodb/index.m3u8',
  ]) {
    const res = await fetch(`${server.httpBase}${path}`);
    assert.equal(res.status, 404, path);
    await res.arrayBuffer();
  }
});
