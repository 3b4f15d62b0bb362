/**
 * HLS with PLAY_TOKEN_SECRET: playlists and segments need a valid token for
 * their stream; a tokened playlist hands the token on in its segment URIs,
 * so a player that only knows the playlist URL (ffprobe here, hls.js in the
 * watch page) plays every segment.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { signPlayToken } from '@bridgecast/media/auth/play-token.js';
import { killAllChildren, probeMedia, startPublisher } from '../helpers/ffmpeg.js';
import { startTestServer, waitFor } from '../helpers/media-server.js';

after(killAllChildren);

const SECRET = 'hls-test-secret';
const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

test('with a play-token secret, HLS playlists and segments need the stream\'s token, which the playlist passes on', async (t) => {
  const server = await startTestServer({ hlsEnabled: true, hlsSegmentSeconds: 1, hlsWindow: 3, playTokenSecret: SECRET });
  t.after(() => server.close());
  startPublisher(server.rtmpUrl('cam-9'), { seconds: 30, gopSeconds: 1 });
  const token = signPlayToken(SECRET, 'live', 'cam-9', inAMinute());
  const playlistUrl = `${server.httpBase}/live/cam-9/index.m3u8`;

  const tokened = await waitFor(async () => {
    const res = await fetch(`${playlistUrl}?token=${token}`);
    const text = res.ok ? await res.text() : '';
    return text.includes('.ts') ? { res, text } : undefined;
  }, 20_000, 'a live playlist with a segment');
  assert.equal(tokened.res.headers.get('cache-control'), 'private, max-age=1', 'a per-viewer answer is not for shared caches');
  const uris = tokened.text.split('\n').filter((line) => line && !line.startsWith('#'));
  assert.ok(uris.length > 0 && uris.every((uri) => uri.endsWith(`.ts?token=${token}`)), tokened.text);

  // What a player does: resolve each URI against the playlist URL and fetch it.
  const segmentUrl = new URL(uris[0]!, `${playlistUrl}?token=${token}`);
  const segment = await fetch(segmentUrl);
  assert.equal(segment.status, 200);
  assert.equal(Buffer.from(await segment.arrayBuffer())[0], 0x47, 'an MPEG-TS segment');
  assert.match(segment.headers.get('cache-control')!, /^private, /);

  const bare = new URL(segmentUrl.pathname, server.httpBase);
  const otherStream = signPlayToken(SECRET, 'live', 'cam-other', inAMinute());
  const expired = signPlayToken(SECRET, 'live', 'cam-9', Math.floor(Date.now() / 1000) - 1);
  for (const url of [playlistUrl, `${playlistUrl}?token=${otherStream}`, `${playlistUrl}?token=${expired}`, bare.href, `${bare.href}?token=${otherStream}`]) {
    const res = await fetch(url);
    assert.equal(res.status, 403, url);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'forbidden');
  }
  const recordingPlaylist = new URL('index.m3u8', bare);
  assert.equal((await fetch(recordingPlaylist)).status, 403, 'recordings are the same stream\'s media');
  const recording = await fetch(`${recordingPlaylist.href}?token=${token}`);
  assert.equal(recording.status, 200);
  assert.match(await recording.text(), new RegExp(`^\\d+\\.ts\\?token=${token}$`, 'm'));

  // A real player given only the tokened playlist URL.
  const probe = await probeMedia(`${playlistUrl}?token=${token}`, { readSeconds: 1, timeoutMs: 20_000 });
  assert.ok(probe.streams.some((s) => s.codec_type === 'video'), 'ffprobe found video');
  assert.ok(probe.packets.length > 0, 'ffprobe read segments through the tokened URIs');
});
