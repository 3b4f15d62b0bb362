import type { Logger } from '../logger.js';
import { nextProtectionAction, type ProtectionPolicy, type ProtectionState } from './protection-policy.js';

export interface TaskProtectionOptions extends Partial<ProtectionPolicy> {
  /** $ECS_AGENT_URI, set by ECS in every container. */
  agentUri: string;
  hasPublishers: () => boolean;
  logger: Logger;
  checkIntervalMs?: number;
}

/**
 * Keeps ECS task scale-in protection on while the task has publishers, so
 * neither the autoscaler nor a deployment's scale-in stops a live broadcast
 * (a deployment still replaces the task, which then drains on SIGTERM).
 * Requests go to the ECS agent (`PUT $ECS_AGENT_URI/task-protection/v1/state`),
 * which needs no IAM permission; a failed request is retried next check.
 */
export function startTaskProtection(options: TaskProtectionOptions): { stop(): Promise<void> } {
  const policy: ProtectionPolicy = { expiresInMinutes: options.expiresInMinutes ?? 60, idleGraceMs: options.idleGraceMs ?? 30_000 };
  const state: ProtectionState = { protectedUntil: undefined, lastBusyAt: undefined };
  const url = `${options.agentUri}/task-protection/v1/state`;
  let inFlight: Promise<void> = Promise.resolve();

  const send = async (body: object): Promise<boolean> => {
    try {
      const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
      return true;
    } catch (err) {
      options.logger.warn({ err, body }, 'task protection request failed; retrying on the next check');
      return false;
    }
  };

  const check = async () => {
    const now = Date.now();
    const busy = options.hasPublishers();
    if (busy) state.lastBusyAt = now;
    const action = nextProtectionAction(state, busy, now, policy);
    if (action.kind === 'protect' && await send({ ProtectionEnabled: true, ExpiresInMinutes: action.expiresInMinutes })) {
      if (state.protectedUntil === undefined) options.logger.info('task scale-in protection on (publishers live)');
      state.protectedUntil = now + action.expiresInMinutes * 60_000;
    } else if (action.kind === 'release' && await send({ ProtectionEnabled: false })) {
      options.logger.info('task scale-in protection off (idle)');
      state.protectedUntil = undefined;
    }
  };

  const timer = setInterval(() => { inFlight = inFlight.then(check); }, options.checkIntervalMs ?? 5000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
  };
}
