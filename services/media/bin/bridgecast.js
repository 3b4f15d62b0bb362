#!/usr/bin/env node
// Entry point for `npx bridgecast` and `npm start`. In a checkout it runs the
// TypeScript sources through tsx; the image runs the compiled JavaScript that
// its build put beside them (the .ts sources are not in the image).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const serviceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(serviceDir, 'src/cli.js');
if (existsSync(compiled) && !existsSync(path.join(serviceDir, 'src/cli.ts'))) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(serviceDir, 'src/cli.ts')).href);
}
