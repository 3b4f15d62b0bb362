/** A decoded AMF value. Objects and ECMA arrays both become plain objects. */
export type AmfValue =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | AmfValue[]
  | { [key: string]: AmfValue };

export type AmfObject = { [key: string]: AmfValue };

/** Thrown for malformed AMF; the connection that sent it is closed. */
export class AmfError extends Error {
  override readonly name = 'AmfError';
}

/** Nesting deeper than this is refused: it is never legitimate and would let a peer exhaust the stack. */
export const MAX_AMF_DEPTH = 32;

/**
 * Sets a property of a decoded object. Keys come from the peer: plain
 * assignment of "__proto__" would replace the object's prototype (and let
 * a peer make properties like `app` appear inherited), so define instead.
 */
export function setAmfProperty(target: AmfObject, key: string, value: AmfValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
