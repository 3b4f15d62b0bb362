import type { Logger } from '../logger.js';
import type { PublishAuthorizer } from './publish-authorizer.js';

/**
 * Cuts off live publishers whose stream was revoked: every `intervalMs`
 * each live stream is checked against the table (uncached), and
 * `onRevoked` is called for the ones no longer active. With the default
 * interval a revoked publisher is gone within about five seconds.
 */
export interface RevocationWatchOptions {
  authorizer: Pick<PublishAuthorizer, 'isStreamActive'>;
  /** Ids of streams with a live publisher right now. */
  liveStreamIds: () => Iterable<string>;
  onRevoked: (streamId: string) => void;
  logger: Logger;
  intervalMs?: number;
}

export function startRevocationWatch({ authorizer, liveStreamIds, onRevoked, logger, intervalMs = 5000 }: RevocationWatchOptions): { stop(): void } {
  let running = false;
  const check = async () => {
    if (running) return; // a slow table must not stack up overlapping sweeps
    running = true;
    try {
      await Promise.all(
        [...liveStreamIds()].map(async (streamId) => {
          try {
            if (!(await authorizer.isStreamActive(streamId))) onRevoked(streamId);
          } catch (err) {
            // Unknown is not revoked: a table outage must not cut every publisher off.
            logger.warn({ err, streamId }, 'revocation check failed');
          }
        }),
      );
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
