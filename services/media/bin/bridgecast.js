#!/usr/bin/env node
// Entry point for `npx bridgecast` and `npm start`. In a checkout it runs the
// TypeScript sources through tsx; a built image runs the compiled dist/ instead.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist/services/media/src/cli.js');
if (existsSync(compiled) && !existsSync(path.join(root, 'services/media/src/cli.ts'))) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(root, 'services/media/src/cli.ts')).href);
}
