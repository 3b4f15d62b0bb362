/**
 * Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1
 * (0x11d, the one Backblaze, klauspost/reedsolomon and kcp-go use), and the
 * small matrix algebra Reed–Solomon coding needs. Multiplication goes
 * through a 64 KiB table so the per-byte inner loops are one lookup.
 */
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

/** MUL[a * 256 + b] = a·b */
export const MUL = new Uint8Array(256 * 256);
for (let a = 1; a < 256; a++) {
  for (let b = 1; b < 256; b++) MUL[a * 256 + b] = EXP[LOG[a]! + LOG[b]!]!;
}

export function gfMul(a: number, b: number): number {
  return MUL[a * 256 + b]!;
}

export function gfInverse(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse in GF(2^8)');
  return EXP[255 - LOG[a]!]!;
}

export function gfPow(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[(LOG[a]! * n) % 255]!;
}

/** A matrix over GF(2^8), rows of Uint8Array. */
export type Matrix = Uint8Array[];

export function matrixMultiply(a: Matrix, b: Matrix): Matrix {
  const cols = b[0]!.length;
  return a.map((row) => {
    const out = new Uint8Array(cols);
    for (let c = 0; c < cols; c++) {
      let v = 0;
      for (let k = 0; k < row.length; k++) v ^= gfMul(row[k]!, b[k]![c]!);
      out[c] = v;
    }
    return out;
  });
}

/** Gauss–Jordan inversion; throws on a singular matrix. */
export function matrixInvert(m: Matrix): Matrix {
  const n = m.length;
  const work = m.map((row, i) => {
    const wide = new Uint8Array(2 * n);
    wide.set(row);
    wide[n + i] = 1;
    return wide;
  });
  for (let col = 0; col < n; col++) {
    const pivot = work.findIndex((row, r) => r >= col && row[col] !== 0);
    if (pivot < 0) throw new Error('matrix is singular');
    [work[col], work[pivot]] = [work[pivot]!, work[col]!];
    const pivotRow = work[col]!;
    const scale = gfInverse(pivotRow[col]!);
    for (let c = 0; c < 2 * n; c++) pivotRow[c] = gfMul(pivotRow[c]!, scale);
    for (let r = 0; r < n; r++) {
      const factor = work[r]![col]!;
      if (r === col || factor === 0) continue;
      const row = work[r]!;
      for (let c = 0; c < 2 * n; c++) row[c]! ^= gfMul(factor, pivotRow[c]!);
    }
  }
  return work.map((row) => row.slice(n));
}
