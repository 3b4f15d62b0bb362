import { matrixInvert, matrixMultiply, MUL, gfPow, type Matrix } from './galois.js';

/**
 * Systematic Reed–Solomon erasure code over GF(2^8): `dataShards` equally
 * long shards produce `parityShards` parity shards, and any `dataShards` of
 * the total recover the rest. The encoding matrix is a Vandermonde matrix
 * made systematic (its top square turned into the identity), as in
 * klauspost/reedsolomon, so every square submatrix of it is invertible.
 */
export class ReedSolomon {
  /** Rows dataShards..total-1 of the encoding matrix: the parity coefficients. */
  private readonly parityRows: Matrix;
  private readonly matrix: Matrix;
  private readonly decodeCache = new Map<string, Matrix>();

  constructor(readonly dataShards: number, readonly parityShards: number) {
    if (!Number.isInteger(dataShards) || !Number.isInteger(parityShards) || dataShards < 1 || parityShards < 0 || dataShards + parityShards > 256) {
      throw new RangeError(`invalid shard counts ${dataShards}+${parityShards} (need data >= 1, parity >= 0, total <= 256)`);
    }
    const total = dataShards + parityShards;
    const vandermonde: Matrix = Array.from({ length: total }, (_, r) =>
      Uint8Array.from({ length: dataShards }, (_, c) => gfPow(r, c)));
    const topInverse = matrixInvert(vandermonde.slice(0, dataShards));
    this.matrix = matrixMultiply(vandermonde, topInverse);
    this.parityRows = this.matrix.slice(dataShards);
  }

  get totalShards(): number { return this.dataShards + this.parityShards; }

  /** Parity shards for `data` (dataShards buffers of one length). */
  encode(data: readonly Uint8Array[]): Buffer[] {
    if (data.length !== this.dataShards) throw new RangeError(`expected ${this.dataShards} data shards, got ${data.length}`);
    const size = data[0]!.length;
    if (data.some((d) => d.length !== size)) throw new RangeError('data shards differ in length');
    return this.parityRows.map((row) => combine(row, data, size));
  }

  /**
   * Fills in the missing (null) data shards of `shards` (length totalShards,
   * at least dataShards present, all present ones of one length). Missing
   * parity shards are left null: nothing downstream needs them.
   */
  reconstruct(shards: (Uint8Array | null)[]): void {
    if (shards.length !== this.totalShards) throw new RangeError(`expected ${this.totalShards} shard slots, got ${shards.length}`);
    const present: number[] = [];
    for (let i = 0; i < shards.length && present.length < this.dataShards; i++) if (shards[i]) present.push(i);
    if (present.length < this.dataShards) throw new Error(`too few shards: ${present.length} of ${this.dataShards} needed`);
    let missingData = false;
    for (let i = 0; i < this.dataShards; i++) if (!shards[i]) missingData = true;
    if (!missingData) return;
    const size = shards[present[0]!]!.length;
    const decode = this.decodeMatrix(present);
    const inputs = present.map((i) => shards[i]!);
    for (let i = 0; i < this.dataShards; i++) {
      if (!shards[i]) shards[i] = combine(decode[i]!, inputs, size);
    }
  }

  /** The inverse of the encoding rows we have: it maps the present shards back to the data. */
  private decodeMatrix(present: number[]): Matrix {
    const key = present.join(',');
    let m = this.decodeCache.get(key);
    if (!m) {
      m = matrixInvert(present.map((i) => this.matrix[i]!));
      if (this.decodeCache.size >= 256) this.decodeCache.clear();
      this.decodeCache.set(key, m);
    }
    return m;
  }
}

/** Σ coefficient[k] · inputs[k], byte by byte. */
function combine(coefficients: Uint8Array, inputs: readonly Uint8Array[], size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let k = 0; k < inputs.length; k++) {
    const c = coefficients[k]!;
    if (c === 0) continue;
    const input = inputs[k]!;
    const base = c * 256;
    for (let i = 0; i < size; i++) out[i]! ^= MUL[base + input[i]!]!;
  }
  return out;
}
