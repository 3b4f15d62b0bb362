import type { Registry } from 'prom-client';
import { isPrivateAddress } from '../../auth/private-address.js';
import type { Route } from '../http-server.js';
import { sendError } from '../responses.js';

/** GET /metrics (Prometheus), to loopback and private addresses only. */
export function metricsRoute(registry: () => Registry): Route {
  return async (req, res, path) => {
    if (path !== '/metrics') return false;
    // The HTTP port is open to the internet in AWS; scrapers sit in the task or the VPC.
    if (!isPrivateAddress(req.socket.remoteAddress)) {
      sendError(res, 403, 'forbidden', 'metrics are served to loopback and private-network addresses only');
      return true;
    }
    res.writeHead(200, { 'Content-Type': registry().contentType });
    res.end(await registry().metrics());
    return true;
  };
}
