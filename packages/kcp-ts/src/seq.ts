/** Signed 32-bit distance from `earlier` to `later` (wrap-around safe). */
export function seqDiff(later: number, earlier: number): number {
  return (later - earlier) | 0;
}
