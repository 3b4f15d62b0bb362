import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkBoundaries, type Violation } from '../../scripts/check-boundaries.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function workspace(files: Record<string, string | object>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bridgecast-boundaries-'));
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return root;
}

const summary = (violations: Violation[]) => violations.map((v) => `${v.kind} ${v.file}`).sort();

describe('package boundary check', () => {
  it('flags a relative import out of a package, an import of another package\'s src/, an undeclared dependency and a cycle', () => {
    const root = workspace({
      'package.json': { name: 'root', private: true, workspaces: ['packages/*'] },
      'packages/a/package.json': { name: 'a', exports: { '.': './src/index.js' } },
      'packages/a/src/index.ts': "export const x = 1;\nexport type T = number;\n",
      'packages/a/src/c1.ts': "import { c2 } from './c2.js';\nexport const c1 = () => c2;\n",
      'packages/a/src/c2.ts': "import { c1 } from './c1.js';\nexport const c2 = () => c1;\n",
      // Type-only edges are erased at run time: no cycle.
      'packages/a/src/t1.ts': "import type { T2 } from './t2.js';\nexport type T1 = T2[];\nexport const one = 1;\n",
      'packages/a/src/t2.ts': "import { one } from './t1.js';\nexport type T2 = typeof one;\n",
      'packages/b/package.json': { name: 'b', dependencies: { a: '*' } },
      'packages/b/src/escape.ts': "import { x } from '../../a/src/index.js';\nexport const y = x;\n",
      'packages/b/src/deep.ts': "import { x } from 'a/src/index.js';\nexport const y = x;\n",
      'packages/b/src/undeclared.ts': "import pino from 'pino';\nexport const log = pino;\n",
      'packages/b/src/fine.ts': [
        "import { x, type T } from 'a';",
        "import fs from 'node:fs';",
        '/**',
        " *   import { leak } from '../../a/src/index.js';   (a doc example, not an import)",
        ' */',
        'export const z: T = x + (fs ? 1 : 0);',
      ].join('\n'),
    });
    try {
      assert.deepEqual(summary(checkBoundaries(root)), [
        'cycle packages/a/src/c1.ts',
        'imports-src-of-package packages/b/src/deep.ts',
        'relative-import-leaves-package packages/b/src/escape.ts',
        'undeclared-dependency packages/b/src/undeclared.ts',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('finds no violation in this repository: no package-leaving relative import, no src/ import, no undeclared dependency, no cycle', () => {
    const violations = checkBoundaries(REPO_ROOT);
    assert.deepEqual(violations.map((v) => `${v.kind}: ${v.file}: ${v.detail}`), []);
  });
});
