import { ConfigError } from './config-error.js';

/** The environment as the setting parsers read it (process.env or a test's plain object). */
export type Env = Record<string, string | undefined>;

/**
 * An integer setting: `fallback` when unset or empty, otherwise an integer
 * from `min` to `max`, or a ConfigError naming the variable, its value and
 * the allowed range. The one integer parser of config.ts, limits.ts and
 * kcp-config.ts, so every refusal reads the same.
 */
export function intSetting(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(name, raw, allowedRange(min, max));
  return value;
}

function allowedRange(min: number, max: number): string {
  if (max !== Number.MAX_SAFE_INTEGER) return `an integer from ${min} to ${max}`;
  return min === 1 ? 'a positive integer' : `an integer of at least ${min}`;
}

/** One of `allowed` (EDGE_MODE, AUTH, LOG_LEVEL ...), `fallback` when unset or empty. */
export function oneOfSetting<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(name, raw, `one of ${allowed.join(', ')}`);
  return raw as T;
}

/** An http(s) URL (S3_ENDPOINT, HLS_BASE_URL, EDGE_ORIGIN_API ...), or undefined when unset. */
export function httpUrlSetting(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new ConfigError(name, raw, 'an http:// or https:// URL');
  return raw;
}
