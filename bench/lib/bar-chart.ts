/** A dependency-free grouped bar chart rendered as SVG text. */

export interface BarGroup {
  label: string;
  /** One value per series, in series order; NaN draws no bar. */
  values: number[];
}

const COLORS = ['#d62728', '#ff7f0e', '#1f77b4', '#2ca02c', '#9467bd', '#8c564b'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Bars are clipped at `maxValue` (the clipped value is printed on the bar). */
export function groupedBarChart(title: string, unit: string, series: string[], groups: BarGroup[], maxValue: number): string {
  const barWidth = 16;
  const groupWidth = series.length * barWidth + 24;
  const left = 60;
  const top = 40;
  const plotHeight = 260;
  const width = left + groups.length * groupWidth + 20;
  const height = top + plotHeight + 70 + series.length * 16;
  const y = (v: number) => top + plotHeight - (Math.min(v, maxValue) / maxValue) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14">${escape(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const value = (maxValue * i) / 4;
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(value)}" y2="${y(value)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(value) + 4}" text-anchor="end">${Math.round(value)}</text>`);
  }
  parts.push(`<text x="14" y="${top + plotHeight / 2}" transform="rotate(-90 14 ${top + plotHeight / 2})" text-anchor="middle">${escape(unit)}</text>`);
  groups.forEach((group, g) => {
    const x0 = left + g * groupWidth + 12;
    group.values.forEach((value, s) => {
      if (!Number.isFinite(value)) return;
      const x = x0 + s * barWidth;
      parts.push(`<rect x="${x}" y="${y(value)}" width="${barWidth - 2}" height="${top + plotHeight - y(value)}" fill="${COLORS[s % COLORS.length]}"/>`);
      if (value > maxValue) parts.push(`<text x="${x + barWidth / 2}" y="${top + 12}" font-size="9" text-anchor="middle" transform="rotate(-90 ${x + barWidth / 2} ${top + 12})">${Math.round(value)}</text>`);
    });
    parts.push(`<text x="${x0 + (series.length * barWidth) / 2}" y="${top + plotHeight + 16}" text-anchor="middle">${escape(group.label)}</text>`);
  });
  series.forEach((name, s) => {
    const ly = top + plotHeight + 40 + s * 16;
    parts.push(`<rect x="${left}" y="${ly - 10}" width="12" height="12" fill="${COLORS[s % COLORS.length]}"/>`, `<text x="${left + 18}" y="${ly}">${escape(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
