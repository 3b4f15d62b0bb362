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
 * How many values one message may decode to beyond one per byte it has.
 * Without references every value costs at least a byte of input, but an
 * AMF3 reference repeats an earlier value for a byte or two, and consumers
 * walk (metadata is re-encoded as AMF0 for viewers) every repetition in
 * full: references nested 20 deep turned a 227-byte message into 9.4 MB.
 */
export const MAX_AMF_EXPANSION = 10_000;

/**
 * The decode budget of one message, shared by every AMF3 value in it (each
 * avmplus switch in an AMF0 message starts fresh reference tables, but not
 * a fresh budget). Values reached through a reference are charged again.
 */
export class AmfBudget {
  private used = 0;
  private readonly limit: number;

  constructor(inputBytes: number) {
    this.limit = inputBytes + MAX_AMF_EXPANSION;
  }

  get spent(): number { return this.used; }

  spend(units: number): void {
    this.used += units;
    if (this.used > this.limit) throw new AmfError(`AMF value exceeds its decode budget of ${this.limit} values (references repeat too much)`);
  }
}

/**
 * Sets a property of a decoded object. Keys come from the peer: plain
 * assignment of "__proto__" would replace the object's prototype (and let
 * a peer make properties like `app` appear inherited), so define instead.
 */
export function setAmfProperty(target: AmfObject, key: string, value: AmfValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
