import { operatorRefusal } from '../../auth/operator-request.js';
import type { Route } from '../http-server.js';
import { sendError, sendJson } from '../responses.js';
import type { LiveStreamDescription } from '../stream-list.js';

/**
 * The live list at `paths` (GET/HEAD), for operators only (loopback, or the
 * API token), as /metrics: stream ids are what viewers of public streams
 * need and what opens recordings by guessing. The app gives its viewers the
 * ids it wants them to have.
 */
export function liveListRoute(paths: string[], liveStreams: () => LiveStreamDescription[] | Promise<LiveStreamDescription[]>, operator: { apiToken: string | undefined; publicHost: string }): Route {
  return async (req, res, path) => {
    if (!paths.includes(path) || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const refusal = operatorRefusal(req, operator);
    if (refusal) {
      sendError(res, refusal.status, refusal.code, 'the live list is for operators: loopback, or Authorization: Bearer <API_TOKEN>', refusal.headers);
      return true;
    }
    sendJson(res, 200, { streams: await liveStreams() });
    return true;
  };
}
