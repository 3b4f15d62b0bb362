/** Small statistics and formatting helpers for benchmark reports. */

/** The p-th percentile (0..100) by nearest rank; NaN for no samples. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/**
 * A per-viewer figure, marked when a run is too small to resolve it: with
 * few viewers (or steps) the fixed costs and the noise of a shared machine
 * are as large as what is measured, and the difference can come out
 * negative. `enough` says whether the run was large enough.
 */
export function perViewerFigure(value: number, digits: number, enough: boolean): string {
  if (!Number.isFinite(value)) return 'n/a (too few points)';
  if (value < 0) return `n/a (below noise: ${value.toFixed(digits)})`;
  return enough ? value.toFixed(digits) : `${value.toFixed(digits)} (small run)`;
}

/** Viewers below which a step's per-viewer figures are marked as a small run. */
export const MIN_VIEWERS_FOR_PER_VIEWER = 50;

/** A markdown table from a header row and data rows. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Least-squares slope of y over x (NaN for fewer than two distinct x). The
 * load benchmark uses it for the marginal cost of one more viewer: fixed
 * costs (timers, GC, ingest) fall out of a slope, but not out of a ratio.
 */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  if (sxx === 0) return Number.NaN;
  return points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
}

/** The median (the mean of the middle two for an even count); NaN for no samples. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
