/**
 * Writes a benchmark's generated section into docs/benchmarks.md between
 * `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers, leaving the hand-written
 * text around it alone (the section is appended when the markers are missing).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const BENCHMARKS_DOC = 'docs/benchmarks.md';

export function writeDocSection(name: string, content: string, file = BENCHMARKS_DOC): void {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${begin}\n${content.trim()}\n${end}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  const next = from >= 0 && to > from
    ? text.slice(0, from) + block + text.slice(to + end.length)
    : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}

/** Machine facts printed with every result table. */
export function machineLine(): string {
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const cores = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length;
  return `${cpu.trim()}, ${cores} cores, Node ${process.version}, measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
