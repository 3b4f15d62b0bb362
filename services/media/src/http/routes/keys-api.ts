import type { LocalApiHandler } from '../../auth/api-adapter.js';
import type { Route } from '../http-server.js';

/** /api/streams and below: the embedded stream-keys API (a laptop; in AWS it is API Gateway + Lambda). */
export function keysApiRoute(api: LocalApiHandler): Route {
  return async (req, res, path) => {
    if (path !== '/api/streams' && !path.startsWith('/api/streams/')) return false;
    await api(req, res);
    return true;
  };
}
