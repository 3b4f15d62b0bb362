import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LiveStream } from '../hub/live-stream.js';
import type { StreamHub } from '../hub/stream-hub.js';
import type { StreamSubscriber } from '../hub/subscriber.js';
import { handleFlvRequest, type FlvRouteOptions } from '../http/flv-route.js';
import type { Route } from '../http/http-server.js';
import { isValidAppName, isValidStreamName } from '../rtmp/names.js';

/**
 * Waits up to `timeoutMs` for app/name to go live, registering as a waiting
 * viewer meanwhile: that raises the hub's 'demand', which is what starts a
 * relay pull. Resolves with the stream, or undefined on timeout or abort.
 */
export function waitForLive(hub: StreamHub, app: string, name: string, timeoutMs: number, signal?: AbortSignal): Promise<LiveStream | undefined> {
  const live = hub.get(app, name);
  if (live) return Promise.resolve(live);
  return new Promise((resolve) => {
    // A stand-in for the viewer who asked: counts as demand while it waits, never receives anything.
    const standIn: StreamSubscriber = { protocol: 'flv', send() {}, end() {} };
    const onPublish = (stream: LiveStream) => {
      if (stream.app === app && stream.name === name) finish(stream);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const onAbort = () => finish(undefined);
    function finish(stream: LiveStream | undefined): void {
      clearTimeout(timer);
      hub.off('publish', onPublish);
      signal?.removeEventListener('abort', onAbort);
      hub.unsubscribe(app, name, standIn);
      resolve(stream);
    }
    hub.on('publish', onPublish);
    signal?.addEventListener('abort', onAbort);
    if (!hub.subscribe(app, name, standIn, true)) finish(undefined);
  });
}

const FLV_PATH = /^\/([^/]+)\/([^/]+)\.flv$/;

/**
 * HTTP-FLV for a relay edge or the kcp-pull bridge: a request for a stream
 * that is not live here (yet) waits up to `waitMs` for the pull it triggers,
 * then is served by the ordinary FLV route. Authorization comes first, so an
 * unauthorized request never starts a pull.
 */
export function onDemandFlvRoute(opts: FlvRouteOptions & { waitMs: number }): Route {
  return async (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => {
    const match = FLV_PATH.exec(path);
    if (!match) return false;
    const [, app, name] = match as unknown as [string, string, string];
    const canWait = (req.method === 'GET' || req.method === 'HEAD') && isValidAppName(app) && isValidStreamName(name)
      && !opts.hub.get(app, name) && await opts.authorizePlay(app, name, query, req.socket.remoteAddress ?? '');
    if (canWait) {
      const aborted = new AbortController();
      res.once('close', () => aborted.abort());
      await waitForLive(opts.hub, app, name, opts.waitMs, aborted.signal);
      if (aborted.signal.aborted) return true;
    }
    return handleFlvRequest(req, res, path, query, opts);
  };
}
