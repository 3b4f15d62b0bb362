/**
 * A private stream in headless Chromium, the way a news app would run it:
 * the app (app.bridgecast.test, a small server standing in for the app's
 * backend) asks the keys API for a viewer's credential and sets its
 * CloudFront-* cookies for the parent domain, as it would for its CDN
 * domain; its page plays HLS from the media service (video.bridgecast.test)
 * with hls.js sending credentials. The media service answers with
 * credentialed CORS for the app's origin only (PLAYBACK_ORIGINS). Both
 * names resolve to 127.0.0.1 inside the browser (--host-resolver-rules).
 * A second visitor whom the app gave no cookies gets 403s and no picture.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import type { SignedCookie } from '@bridgecast/stream-keys';
import { killAllChildren, startPublisher } from '../helpers/ffmpeg.js';
import { startTestServer, waitFor, waitForKeyframe, type TestServer } from '../helpers/media-server.js';

const CHROMIUM = '/usr/bin/chromium';
const PARENT = 'bridgecast.test';

/** The app's page: hls.js from the media service, credentials on every request, errors kept for the test. */
const page = (videoBase: string, streamId: string) => `<!doctype html><html><body>
<video id="v" muted autoplay playsinline></video>
<script src="${videoBase}/assets/hls.min.js"></script>
<script>
  window.hlsErrors = [];
  const hls = new Hls({ xhrSetup: (xhr) => { xhr.withCredentials = true; } });
  hls.on(Hls.Events.ERROR, (_e, data) => window.hlsErrors.push((data.response && data.response.code) || data.details));
  hls.loadSource('${videoBase}/live/${streamId}/index.m3u8');
  hls.attachMedia(document.getElementById('v'));
</script></body></html>`;

describe('a private stream in Chromium with the app\'s signed cookies', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} missing` }, () => {
  let media: TestServer;
  let app: http.Server;
  let browser: Browser;
  let appOrigin: string;
  let streamId: string;

  before(async () => {
    // The app's backend: /watch issues a credential through the keys API and sets its cookies; /guest sets none.
    app = http.createServer(async (req, res) => {
      const cookies: string[] = [];
      if (req.url === '/watch') {
        const issued = await fetch(`http://127.0.0.1:${media.httpPort}/api/streams/${streamId}/playback`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ expiresInSeconds: 600 }),
        });
        const credential = (await issued.json()) as { cookies: SignedCookie[] };
        // In production add Secure (the CDN is HTTPS); this test's pages are plain http.
        for (const c of credential.cookies) cookies.push(`${c.name}=${c.value}; Domain=${PARENT}; Path=${c.path}; HttpOnly; SameSite=Lax`);
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'set-cookie': cookies });
      res.end(page(`http://video.${PARENT}:${media.httpPort}`, streamId));
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appOrigin = `http://app.${PARENT}:${(app.address() as AddressInfo).port}`;

    media = await startTestServer({
      auth: 'keys', hlsEnabled: true, hlsSegmentSeconds: 1, hlsWindow: 4, publicHost: `video.${PARENT}`, playbackOrigins: [appOrigin],
    });
    const created = await fetch(`${media.httpBase}/api/streams`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'members only', private: true }),
    });
    const stream = (await created.json()) as { streamId: string; streamKey: string };
    streamId = stream.streamId;
    startPublisher(media.rtmpUrl(stream.streamKey), { seconds: 60, width: 640, height: 360, gopSeconds: 1, bframes: 0 });
    await waitForKeyframe(media.hub, streamId, 15_000);
    // The page's player gives up on a playlist that is not there yet: open it once the writer has one.
    const playlist = path.join(media.config.dataDir, 'hls', 'live', streamId, 'index.m3u8');
    await waitFor(() => existsSync(playlist), 20_000, 'the live playlist');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--autoplay-policy=no-user-gesture-required', `--host-resolver-rules=MAP *.${PARENT} 127.0.0.1`],
    });
  });

  after(async () => {
    await browser?.close();
    await killAllChildren();
    await media?.close();
    await new Promise((resolve) => app?.close(resolve));
  });

  it('plays with the cookies the app set, and not without them', async () => {
    const viewer = await browser.newContext();
    const watching = await viewer.newPage();
    const playlistStatus: number[] = [];
    watching.on('response', (r) => { if (r.url().endsWith('index.m3u8')) playlistStatus.push(r.status()); });
    await watching.goto(`${appOrigin}/watch`);
    const currentTime = async () => Number(await watching.evaluate('document.getElementById("v").currentTime'));
    const start = await waitFor(currentTime, 30_000, 'playback to start');
    await waitFor(async () => (await currentTime()) > start + 2, 20_000, 'two seconds of picture');
    assert.ok(playlistStatus.length > 0 && playlistStatus.every((s) => s === 200), `playlist answers ${playlistStatus}`);
    const cookies = await viewer.cookies(`http://video.${PARENT}/live/${streamId}/`);
    assert.deepEqual(cookies.map((c) => c.name).sort(), ['CloudFront-Key-Pair-Id', 'CloudFront-Policy', 'CloudFront-Signature']);
    await viewer.close();

    const guest = await browser.newContext();
    const turnedAway = await guest.newPage();
    await turnedAway.goto(`${appOrigin}/guest`);
    const errors = await waitFor(async () => {
      const seen = (await turnedAway.evaluate('window.hlsErrors')) as unknown[];
      return seen.length > 0 ? seen : undefined;
    }, 20_000, 'hls.js to report the refusal');
    assert.ok(errors.includes(403), `hls.js saw ${JSON.stringify(errors)}`);
    assert.equal(Number(await turnedAway.evaluate('document.getElementById("v").currentTime')), 0, 'no picture');
    await guest.close();
  });
});
