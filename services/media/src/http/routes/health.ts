import { sendJson } from '../responses.js';
import type { Route } from '../http-server.js';

/** GET /healthz: 200 while taking publishers, 503 while draining (the load balancer stops sending new connections). */
export function healthRoute(state: { accepting(): boolean; streamCount(): number }): Route {
  return (_req, res, path) => {
    if (path !== '/healthz') return false;
    const accepting = state.accepting();
    sendJson(res, accepting ? 200 : 503, { status: accepting ? 'ok' : 'draining', streams: state.streamCount() });
    return true;
  };
}
