/** Assertions and waits shared by the as-deployed tests. */
import assert from 'node:assert/strict';
import type { AsDeployedStack } from './deployment.js';

/** Polls `probe` every 250 ms until it returns a value other than undefined/false. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every AWS call the stack's processes made mapped to IAM, and no policy refused one. */
export function assertNothingRefused(stack: AsDeployedStack): void {
  assert.deepEqual(stack.proxy.unmapped, [], `${stack.stackName}: every AWS call maps to IAM`);
  assert.deepEqual(stack.proxy.denials().map((d) => `${d.role}: ${d.action} on ${d.resource} ${JSON.stringify(d.context)}`), [], `${stack.stackName}: no call refused by a policy`);
}
