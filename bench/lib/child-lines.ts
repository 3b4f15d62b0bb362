/** Reads a child process's stdout line by line, in order; a line awaited after the child exited rejects. */
import type { ChildProcess } from 'node:child_process';

export function childLines(child: ChildProcess, label = 'child'): { next(): Promise<string> } {
  let buffered = '';
  const lines: string[] = [];
  const waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  let exitCode: number | null | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const waiter = waiting.shift();
      if (waiter) waiter.resolve(line);
      else lines.push(line);
    }
  });
  child.once('exit', (code) => {
    exitCode = code;
    for (const waiter of waiting.splice(0)) waiter.reject(new Error(`${label} exited with ${code} before answering`));
  });
  return {
    next: () => new Promise((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) resolve(line);
      else if (exitCode !== undefined) reject(new Error(`${label} exited with ${exitCode} before answering`));
      else waiting.push({ resolve, reject });
    }),
  };
}
