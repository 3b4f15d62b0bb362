import { operatorRefusal } from '../../auth/operator-request.js';
import type { Route } from '../http-server.js';
import { sendJson } from '../responses.js';
import { publicLiveStream, type LiveStreamDescription } from '../stream-list.js';

/**
 * The live list at `paths` (GET/HEAD): operators (loopback, or the API token)
 * get every field, everyone else the public view.
 */
export function liveListRoute(paths: string[], liveStreams: () => LiveStreamDescription[] | Promise<LiveStreamDescription[]>, operator: { apiToken: string | undefined; publicHost: string }): Route {
  return async (req, res, path) => {
    if (!paths.includes(path) || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const isOperator = !operatorRefusal(req, operator);
    const streams = await liveStreams();
    sendJson(res, 200, { streams: isOperator ? streams : streams.map(publicLiveStream) });
    return true;
  };
}
