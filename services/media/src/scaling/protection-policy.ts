/**
 * When to ask ECS for task scale-in protection, pure. A task with at least
 * one publisher is protected (renewed at half its lifetime, so it never
 * lapses mid-broadcast); once it has had no publisher for the idle grace
 * (so a reconnecting encoder does not make it flap), protection is dropped
 * and the autoscaler may remove it.
 */
export interface ProtectionState {
  /** Whether ECS currently has protection on, as far as we know, and until when. */
  protectedUntil: number | undefined;
  /** When the task last had a publisher. */
  lastBusyAt: number | undefined;
}

export type ProtectionAction = { kind: 'protect'; expiresInMinutes: number } | { kind: 'release' } | { kind: 'none' };

export interface ProtectionPolicy {
  expiresInMinutes: number;
  idleGraceMs: number;
}

export function nextProtectionAction(state: ProtectionState, busy: boolean, now: number, policy: ProtectionPolicy): ProtectionAction {
  const lifetimeMs = policy.expiresInMinutes * 60_000;
  if (busy) {
    const needsRenewal = state.protectedUntil === undefined || state.protectedUntil - now < lifetimeMs / 2;
    return needsRenewal ? { kind: 'protect', expiresInMinutes: policy.expiresInMinutes } : { kind: 'none' };
  }
  const idleLongEnough = state.lastBusyAt === undefined || now - state.lastBusyAt >= policy.idleGraceMs;
  return state.protectedUntil !== undefined && idleLongEnough ? { kind: 'release' } : { kind: 'none' };
}
