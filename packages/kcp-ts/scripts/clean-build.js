#!/usr/bin/env node
// postpack: removes what prepack compiled into src/ (x.js and x.d.ts beside each x.ts), so
// tsx, tsc and esbuild in the workspace keep resolving the package's exports to the .ts sources.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

function clean(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      clean(full);
      continue;
    }
    const output = /^(.*)(\.d\.ts|\.js)$/.exec(entry.name);
    if (output && existsSync(path.join(dir, `${output[1]}.ts`))) rmSync(full);
  }
}

clean(src);
