import type { Logger } from '../logger.js';
import { nextProtectionAction, type ProtectionPolicy, type ProtectionState } from './protection-policy.js';

/**
 * Protection lifetime. Short on purpose: it is renewed at half-life while
 * publishers are live, so a task that dies or wedges without releasing it
 * holds up scale-in and deployments for at most this long.
 */
export const DEFAULT_PROTECTION_MINUTES = 10;

export interface TaskProtectionOptions extends Partial<ProtectionPolicy> {
  /** $ECS_AGENT_URI, set by ECS in every container. */
  agentUri: string;
  hasPublishers: () => boolean;
  logger: Logger;
  checkIntervalMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** What the agent answers: HTTP 200 with `protection`, or — also with HTTP 200 — `failure` when ECS refused, or `error`. */
interface AgentResponse {
  protection?: { ProtectionEnabled?: unknown; ExpirationDate?: unknown; TaskArn?: unknown };
  failure?: { Arn?: string; Reason?: string; Detail?: string | null };
  error?: { Arn?: string; Code?: string; Message?: string };
}

/**
 * Keeps ECS task scale-in protection on while the task has publishers, so
 * neither the autoscaler's scale-in nor a deployment stops a live broadcast.
 * Requests go to the ECS agent (`$ECS_AGENT_URI/task-protection/v1/state`),
 * which calls ecs:UpdateTaskProtection / ecs:GetTaskProtection with the
 * *task role's* credentials: the task role needs both (infra/lib/media-service.ts).
 * The agent answers HTTP 200 even when ECS refused (`{"failure": …}`,
 * `{"error": …}`), so the body is checked, not only the status; a failed
 * request is retried on the next check.
 *
 * Operator override: before each renewal the current state is read back;
 * if ECS says the task is unprotected although our protection has not
 * expired, someone cleared it (`aws ecs update-task-protection
 * --no-protection-enabled`, docs/deploy.md) and the task stops renewing
 * until it has been idle for the grace period, so a waiting deployment or
 * scale-in can proceed.
 */
export function startTaskProtection(options: TaskProtectionOptions): { stop(): Promise<void> } {
  const policy: ProtectionPolicy = {
    expiresInMinutes: options.expiresInMinutes ?? DEFAULT_PROTECTION_MINUTES,
    idleGraceMs: options.idleGraceMs ?? 30_000,
  };
  const now = options.now ?? Date.now;
  const state: ProtectionState = { protectedUntil: undefined, lastBusyAt: undefined };
  /** Set when an operator cleared our protection: do not re-protect until idle. */
  let clearedByOperator = false;
  const url = `${options.agentUri}/task-protection/v1/state`;
  let inFlight: Promise<void> = Promise.resolve();

  /** One agent call; the protection state ECS reports, or undefined when the call failed (logged). */
  const call = async (method: 'GET' | 'PUT', body?: object): Promise<{ enabled: boolean } | undefined> => {
    try {
      const res = await fetch(url, {
        method,
        ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(5000),
      });
      const text = await res.text();
      let parsed: AgentResponse | undefined;
      try {
        parsed = JSON.parse(text) as AgentResponse;
      } catch {
        parsed = undefined;
      }
      if (parsed?.error) throw new Error(`ECS agent error ${parsed.error.Code ?? '?'}: ${parsed.error.Message ?? ''}`.trim());
      if (parsed?.failure) throw new Error(`ECS refused: ${parsed.failure.Reason ?? '?'}${parsed.failure.Detail ? ` (${parsed.failure.Detail})` : ''}`);
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
      const enabled = parsed?.protection?.ProtectionEnabled;
      if (typeof enabled !== 'boolean') throw new Error(`no protection state in the agent's answer: ${text.slice(0, 200)}`);
      return { enabled };
    } catch (err) {
      options.logger.warn({ err, method, body }, 'task protection request failed; retrying on the next check');
      return undefined;
    }
  };

  const check = async () => {
    const at = now();
    const busy = options.hasPublishers();
    if (busy) state.lastBusyAt = at;
    if (clearedByOperator) {
      if (!busy && (state.lastBusyAt === undefined || at - state.lastBusyAt >= policy.idleGraceMs)) clearedByOperator = false;
      return;
    }
    const action = nextProtectionAction(state, busy, at, policy);
    if (action.kind === 'protect') {
      const renewing = state.protectedUntil !== undefined && at < state.protectedUntil;
      if (renewing && (await call('GET'))?.enabled === false) {
        clearedByOperator = true;
        state.protectedUntil = undefined;
        options.logger.warn('task scale-in protection was cleared from outside; not renewing it until this task is idle');
        return;
      }
      const result = await call('PUT', { ProtectionEnabled: true, ExpiresInMinutes: action.expiresInMinutes });
      if (result?.enabled === true) {
        if (!renewing) options.logger.info({ expiresInMinutes: action.expiresInMinutes }, 'task scale-in protection on (publishers live)');
        state.protectedUntil = at + action.expiresInMinutes * 60_000;
      }
    } else if (action.kind === 'release') {
      const result = await call('PUT', { ProtectionEnabled: false });
      if (result?.enabled === false) {
        options.logger.info('task scale-in protection off (idle)');
        state.protectedUntil = undefined;
      }
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
