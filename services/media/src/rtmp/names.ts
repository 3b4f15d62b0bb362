/**
 * Validation of app and stream names from RTMP URLs and HTTP paths. Names
 * end up in file paths and S3 keys, so only a conservative set of
 * characters is allowed; anything else is refused, never sanitized.
 */
const APP_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const STREAM_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

export function isValidAppName(name: string): boolean {
  return APP_NAME.test(name);
}

export function isValidStreamName(name: string): boolean {
  return STREAM_NAME.test(name) && !name.includes('..');
}

/** Splits "name?query" as RTMP clients send it (tokens ride in the query). */
export function splitStreamName(raw: string): { name: string; query: URLSearchParams } {
  const q = raw.indexOf('?');
  if (q < 0) return { name: raw, query: new URLSearchParams() };
  return { name: raw.slice(0, q), query: new URLSearchParams(raw.slice(q + 1)) };
}
