import { ApiError } from '@bridgecast/contracts';

/**
 * Opaque pagination cursors: a DynamoDB key, JSON then base64url. Cursors
 * come back from clients, so decoding checks the shape strictly instead of
 * handing arbitrary attributes to ExclusiveStartKey.
 */
export interface TableKey {
  pk: string;
  sk: string;
}

const KEY_PART = /^[A-Za-z0-9_#:.-]{1,200}$/;

export function encodeCursor(key: TableKey): string {
  return Buffer.from(JSON.stringify({ pk: key.pk, sk: key.sk })).toString('base64url');
}

export function decodeCursor(cursor: string): TableKey {
  const invalid = new ApiError(400, 'invalid_cursor', 'cursor is not one this API returned');
  if (cursor.length > 600 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid;
  const { pk, sk, ...rest } = parsed as Record<string, unknown>;
  if (typeof pk !== 'string' || typeof sk !== 'string' || !KEY_PART.test(pk) || !KEY_PART.test(sk) || Object.keys(rest).length > 0) {
    throw invalid;
  }
  return { pk, sk };
}
