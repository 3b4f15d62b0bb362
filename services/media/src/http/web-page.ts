import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isValidStreamName } from '../rtmp/names.js';
import type { Route } from './http-server.js';

interface Asset {
  body: Buffer;
  contentType: string;
}

const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const require = createRequire(import.meta.url);

const asset = (file: string, contentType: string): Asset => ({ body: readFileSync(file), contentType });

export interface WebPageOptions {
  /** The RTMP port publishers use, shown in the index page's hint (the page knows the host it was loaded from). */
  rtmpPort: number;
  /** The first one is the app of the publish URL shown. */
  apps: readonly string[];
}

/**
 * The local web page: `/` lists live streams, `/watch/<stream>` plays one
 * with hls.js or mpegts.js. Plain files, no build step; the players are
 * served from their npm packages. Everything is read once at start.
 */
export function webPageRoute(options: WebPageOptions): Route {
  const html = 'text/html; charset=utf-8';
  const js = 'text/javascript; charset=utf-8';
  const indexPage = readFileSync(`${WEB_DIR}index.html`, 'utf8')
    .replace('{{RTMP_PORT}}', String(options.rtmpPort))
    .replace('{{APP}}', options.apps[0] ?? 'live');
  const index: Asset = { body: Buffer.from(indexPage), contentType: html };
  const favicon = asset(`${WEB_DIR}favicon.svg`, 'image/svg+xml');
  const watch = asset(`${WEB_DIR}watch.html`, html);
  const assets = new Map<string, Asset>([
    ['/favicon.ico', favicon],
    ['/assets/favicon.svg', favicon],
    ['/assets/style.css', asset(`${WEB_DIR}style.css`, 'text/css; charset=utf-8')],
    ['/assets/streams.js', asset(`${WEB_DIR}streams.js`, js)],
    ['/assets/watch.js', asset(`${WEB_DIR}watch.js`, js)],
    ['/assets/hls.min.js', asset(require.resolve('hls.js/dist/hls.min.js'), js)],
    ['/assets/mpegts.js', asset(require.resolve('mpegts.js/dist/mpegts.js'), js)],
  ]);
  return (req, res, path) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    let page: Asset | undefined;
    if (path === '/') page = index;
    else if (path.startsWith('/watch/') && isValidStreamName(path.slice('/watch/'.length))) page = watch;
    else page = assets.get(path);
    if (!page) return false;
    res.writeHead(200, {
      'Content-Type': page.contentType,
      'Content-Length': page.body.length,
      // Players and pages change only with a new release; a short cache keeps reloads cheap.
      'Cache-Control': 'public, max-age=60',
    });
    res.end(req.method === 'HEAD' ? undefined : page.body);
    return true;
  };
}
