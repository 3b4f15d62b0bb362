/**
 * The watch page follows the stream in headless Chromium, with real ffmpeg
 * publishing with a stream key: not found (an id the server does not have),
 * offline (a real stream before its broadcast), live (it starts playing by
 * itself), ended (the live playlist's EXT-X-ENDLIST), live again by itself,
 * and a player error (segments blocked in the browser) that recovers by
 * itself. Each state is screenshotted (PNG, in a temp dir printed as a
 * diagnostic) and asserted from the page's data-state and text.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { decideStreamState } from '../../services/media/src/http/stream-state.js';
import { killAllChildren, startPublisher, type ChildRun } from '../helpers/ffmpeg.js';
import { startTestServer, waitFor, type TestServer } from '../helpers/media-server.js';

const CHROMIUM = '/usr/bin/chromium';

it('decides live, not found, ended and offline from what the hub, the keys table and the live playlist say', () => {
  assert.equal(decideStreamState({ live: true, known: undefined, playlistEnded: undefined }), 'live');
  assert.equal(decideStreamState({ live: false, known: false, playlistEnded: true }), 'not_found', 'revoked or unknown beats an old playlist');
  assert.equal(decideStreamState({ live: false, known: true, playlistEnded: true }), 'ended');
  assert.equal(decideStreamState({ live: false, known: true, playlistEnded: undefined }), 'offline', 'never broadcast');
  assert.equal(decideStreamState({ live: false, known: true, playlistEnded: false }), 'offline', 'cut off without an end (a crash)');
  assert.equal(decideStreamState({ live: false, known: undefined, playlistEnded: true }), 'ended', 'AUTH=none: no table');
});

describe('watch page states in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} missing (apt-get install chromium)` }, () => {
  let server: TestServer;
  let browser: Browser;
  let shots: string;
  let streamId: string;
  let streamKey: string;

  before(async () => {
    server = await startTestServer({ auth: 'keys', hlsEnabled: true, hlsSegmentSeconds: 1, hlsWindow: 4 });
    const created = await server.streamKeys!.createStream('state test');
    streamId = created.stream.streamId;
    streamKey = created.streamKey;
    shots = await mkdtemp(path.join(os.tmpdir(), 'bridgecast-watch-states-'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'],
    });
  });

  after(async () => {
    await browser?.close();
    await killAllChildren();
    await server?.close();
  });

  async function open(pathname: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 800, height: 640 } });
    page.on('pageerror', (err) => assert.fail(`page error on ${pathname}: ${err.message}`));
    await page.goto(`${server.httpBase}${pathname}`);
    return page;
  }

  async function expectState(page: Page, state: string, text: RegExp, shot: string, timeoutMs = 20_000): Promise<void> {
    // Both in one evaluation: the page may move on between two reads.
    const shown = async () => page.evaluate('[document.body.dataset.state, document.getElementById("state").textContent]') as Promise<[string, string]>;
    const [, stateText] = await waitFor(async () => { const now = await shown(); return now[0] === state ? now : null; }, timeoutMs, `state ${state}`);
    assert.match(stateText, text);
    await page.screenshot({ path: path.join(shots, `${shot}.png`) });
  }

  /** The video advances: a picture is really playing. */
  async function plays(page: Page): Promise<void> {
    const t = async () => Number(await page.evaluate('document.querySelector("video").currentTime'));
    const start = await waitFor(t, 20_000, 'playback to start');
    await waitFor(async () => (await t()) > start + 1, 15_000, 'playback to advance');
  }

  const publish = (seconds: number): ChildRun =>
    startPublisher(server.rtmpUrl(streamKey), { seconds, width: 640, height: 360, gopSeconds: 1, bframes: 0 });

  it('says not found for an id the server does not have', async (t) => {
    const page = await open('/watch/st_doesnotexist000000?player=hls');
    await expectState(page, 'not_found', /^Not found: there is no stream with this id/, 'not-found');
    assert.equal(await page.isVisible('#overlay'), true);
    t.diagnostic(`screenshots in ${shots}`);
    await page.close();
  });

  it('HLS: offline, then live by itself, ended, live again by itself; a player error recovers by itself', async () => {
    const page = await open(`/watch/${streamId}?player=hls`);
    await expectState(page, 'offline', /^Offline: this stream is not live right now/, 'hls-1-offline');

    let publisher = publish(600);
    await expectState(page, 'live', /^live$/, 'hls-2-live-pending', 30_000);
    await plays(page);
    assert.equal(await page.isVisible('#overlay'), false);
    assert.match((await page.textContent('#latency')) ?? '', /s behind real time/);
    await page.screenshot({ path: path.join(shots, 'hls-2-live.png') });

    // A player error while the stream is live: segments fail in the browser, then come back.
    await page.route('**/*.ts', (route) => route.abort());
    await expectState(page, 'error', /^Error: the player failed/, 'hls-3-error', 60_000);
    await page.unroute('**/*.ts');
    await expectState(page, 'live', /^live$/, 'hls-4-recovered', 30_000);
    await plays(page);

    await publisher.stop();
    await expectState(page, 'ended', /^Ended: the broadcast has ended/, 'hls-5-ended', 30_000);
    const playlist = await (await fetch(`${server.httpBase}/live/${streamId}/index.m3u8`)).text();
    assert.match(playlist, /#EXT-X-ENDLIST/);

    publisher = publish(600);
    await expectState(page, 'live', /^live$/, 'hls-6-live-again-pending', 30_000);
    await plays(page);
    await page.screenshot({ path: path.join(shots, 'hls-6-live-again.png') });
    await publisher.stop();
    await page.close();
  });

  it('HTTP-FLV: live with its bit rate, then ended', async () => {
    const page = await open(`/watch/${streamId}?player=flv`);
    await expectState(page, 'ended', /^Ended/, 'flv-1-ended-before');
    const publisher = publish(600);
    await expectState(page, 'live', /^live$/, 'flv-2-live-pending', 30_000);
    await plays(page);
    await waitFor(async () => /^[1-9]\d* kbit\/s$/.test((await page.textContent('#bitrate')) ?? ''), 10_000, 'the FLV bit rate');
    await page.screenshot({ path: path.join(shots, 'flv-2-live.png') });
    await publisher.stop();
    await expectState(page, 'ended', /^Ended/, 'flv-3-ended', 30_000);
    await page.close();
  });
});
