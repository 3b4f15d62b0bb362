/**
 * The local web page in headless Chromium (the Debian package, driven by
 * playwright-core): the index lists a live stream published by real ffmpeg,
 * and the watch page plays it with hls.js (HLS written by the service) and
 * with mpegts.js (HTTP-FLV): the video's currentTime advances. Play tokens
 * are on, so the pages pass one; hls.js gets it into every segment request
 * through the playlist. The latency each player shows is printed for the README.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { signPlayToken } from '../../services/media/src/auth/play-token.js';
import { killAllChildren, startPublisher } from '../helpers/ffmpeg.js';
import { startTestServer, waitFor, waitForKeyframe, type TestServer } from '../helpers/media-server.js';

const CHROMIUM = '/usr/bin/chromium';
const SECRET = 'watch-page-secret';
const token = signPlayToken(SECRET, 'live', 'newsroom', Math.floor(Date.now() / 1000) + 3600);

describe('watch page in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} missing (apt-get install chromium)` }, () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    server = await startTestServer({ hlsEnabled: true, hlsSegmentSeconds: 1, hlsWindow: 4, playTokenSecret: SECRET });
    startPublisher(server.rtmpUrl('newsroom'), { seconds: 60, width: 640, height: 360, gopSeconds: 1, bframes: 0 });
    await waitForKeyframe(server.hub, 'newsroom', 15_000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-gpu', '--disable-dev-shm-usage'],
    });
  });

  after(async () => {
    await browser?.close();
    await killAllChildren();
    await server?.close();
  });

  async function openPage(path: string): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (err) => assert.fail(`page error on ${path}: ${err.message}`));
    await page.goto(`${server.httpBase}${path}`);
    return page;
  }

  /** Waits until the video has played `seconds` of media and returns the latency the page shows. */
  async function playsFor(page: Page, seconds: number): Promise<string> {
    // A string expression: it runs in the page, and the tests compile without DOM types.
    const currentTime = async () => Number(await page.evaluate('document.querySelector("video").currentTime'));
    const start = await waitFor(currentTime, 20_000, 'playback to start');
    await waitFor(async () => (await currentTime()) > start + seconds, 15_000, `currentTime to advance ${seconds} s`);
    return (await page.textContent('#latency')) ?? '';
  }

  it('the index lists the live stream with links to both players', async () => {
    const page = await openPage('/');
    await page.waitForSelector('a[href="/watch/newsroom?player=hls"]', { timeout: 10_000 });
    assert.match((await page.textContent('#streams')) ?? '', /live\/newsroom.*h264 640×360.*aac/s);
    assert.equal(await page.textContent('#publish-url'), `rtmp://127.0.0.1:${server.rtmpPort}/live/<stream key>`, 'the real RTMP port, not a hard-coded 1935');
    const favicon = await fetch(`${server.httpBase}/favicon.ico`);
    assert.equal(favicon.status, 200);
    assert.equal(favicon.headers.get('content-type'), 'image/svg+xml');
    await page.close();
  });

  it('plays HTTP-FLV with mpegts.js', async () => {
    const page = await openPage(`/watch/newsroom?player=flv&token=${token}`);
    const latency = await playsFor(page, 2);
    assert.match((await page.textContent('#player-name')) ?? '', /mpegts\.js/);
    await waitFor(async () => /^[1-9]\d* kbit\/s$/.test((await page.textContent('#bitrate')) ?? ''), 5000, 'the FLV bit rate (was always 0)');
    // Muted autoplay, with a control to unmute.
    assert.equal(await page.evaluate('document.querySelector("video").muted'), true);
    await page.click('#unmute');
    assert.equal(await page.evaluate('document.querySelector("video").muted'), false);
    assert.equal(await page.textContent('#unmute'), 'Mute');
    console.log(`# HTTP-FLV player latency shown: ${latency}`);
    await page.close();
  });

  it('plays HLS with hls.js from the playlists the service writes', async () => {
    const segmentRequests: string[] = [];
    const page = await openPage(`/watch/newsroom?player=hls&token=${token}`);
    page.on('request', (request) => { if (request.url().includes('.ts')) segmentRequests.push(request.url()); });
    const latency = await playsFor(page, 2);
    assert.match((await page.textContent('#player-name')) ?? '', /hls\.js/);
    assert.match((await page.textContent('#bitrate')) ?? '', /^[1-9]\d* kbit\/s$/, 'bit rate measured from loaded segments');
    assert.ok(segmentRequests.length > 0 && segmentRequests.every((url) => url.endsWith(`?token=${token}`)), segmentRequests.join('\n'));
    console.log(`# HLS player latency shown: ${latency}`);
    await page.close();
  });
});
