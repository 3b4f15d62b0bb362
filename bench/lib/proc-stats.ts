/**
 * CPU time and resident memory of a process and all its descendants (nginx
 * runs a master and workers), read from /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcUsage {
  cpuSeconds: number;
  rssBytes: number;
}

interface ProcStat { pid: number; ppid: number; cpuTicks: number }

function readStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the parenthesised command name, which may contain spaces.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null; // the process exited between listing and reading
  }
}

function readRssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Usage summed over `rootPid` and its descendants. */
export function processTreeUsage(rootPid: number): ProcUsage {
  const stats = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map((d) => readStat(Number(d))).filter((s): s is ProcStat => s !== null);
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const root = stats.find((s) => s.pid === rootPid);
  if (!root) throw new Error(`process ${rootPid} is gone`);
  let cpuTicks = 0;
  let rssBytes = 0;
  const queue = [root];
  for (let s = queue.pop(); s; s = queue.pop()) {
    cpuTicks += s.cpuTicks;
    rssBytes += readRssBytes(s.pid);
    queue.push(...(children.get(s.pid) ?? []));
  }
  return { cpuSeconds: cpuTicks / CLOCK_TICKS_PER_SECOND, rssBytes };
}
