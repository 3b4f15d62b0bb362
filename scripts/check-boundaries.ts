/**
 * The workspace's package boundaries, checked (run by `npm test` through
 * test/workspace/boundaries.test.ts; by hand: `node --import tsx scripts/check-boundaries.ts`):
 *
 * - a relative import never leaves its package (the root package owns test/,
 *   bench/ and scripts/; each workspace owns its folder);
 * - another package is imported by its name and its declared `exports`,
 *   never by its `src/` (`@bridgecast/stream-keys/src/store.js`);
 * - a bare import names a dependency the importing package declares (or a
 *   Node built-in), so each package.json lists exactly what it needs;
 * - no import cycles between modules (type-only imports are erased at run
 *   time and do not count).
 *
 * Plain text scanning, no TypeScript API: imports in this code base are
 * static strings, and comments are stripped first so examples in doc
 * comments do not count.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ViolationKind = 'relative-import-leaves-package' | 'imports-src-of-package' | 'undeclared-dependency' | 'unresolved-import' | 'cycle';

export interface Violation {
  kind: ViolationKind;
  /** Repository-relative path of the importing file (for a cycle: its first module). */
  file: string;
  detail: string;
}

interface PackageInfo {
  name: string;
  dir: string;
  manifest: { exports?: unknown; dependencies?: Record<string, string>; devDependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
}

interface ImportRef {
  specifier: string;
  typeOnly: boolean;
}

const SOURCE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'cdk.out', '.git', 'data', '.bench']);
const BUILTINS = new Set(builtinModules);

/** Workspace packages (from the root manifest's `workspaces`) plus the root package itself. */
function readPackages(root: string): PackageInfo[] {
  const rootManifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const packages: PackageInfo[] = [{ name: rootManifest.name, dir: root, manifest: rootManifest }];
  for (const pattern of (rootManifest.workspaces ?? []) as string[]) {
    const dirs = pattern.endsWith('/*')
      ? readdirSync(path.join(root, pattern.slice(0, -2)), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(root, pattern.slice(0, -2), d.name))
      : [path.join(root, pattern)];
    for (const dir of dirs) {
      const manifestPath = path.join(dir, 'package.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
      packages.push({ name: manifest.name, dir, manifest });
    }
  }
  return packages;
}

function sourceFiles(dir: string, nestedPackageDirs: Set<string>, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name) && !nestedPackageDirs.has(full)) sourceFiles(full, nestedPackageDirs, out);
    } else if (SOURCE_EXTENSIONS.some((ext) => entry.name.endsWith(ext)) && !entry.name.endsWith('.d.ts')) {
      out.push(full);
    }
  }
  return out;
}

/** Drops block comments and whole-line `//` comments (doc examples are not imports). */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

const IMPORT_PATTERNS = [
  /^\s*(import|export)\s+(type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm,
  /^\s*import\s+['"]([^'"]+)['"]/gm,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
];

export function importsOf(text: string): ImportRef[] {
  const code = stripComments(text);
  const refs: ImportRef[] = [];
  for (const match of code.matchAll(IMPORT_PATTERNS[0]!)) {
    // `import { type A, type B } from` is type-only too.
    const clause = match[0];
    const braces = /\{([^}]*)\}/.exec(clause)?.[1];
    const allTypeNames = braces !== undefined && !/^\s*(import|export)\s+[A-Za-z_$*]/.test(clause.replace(/^\s*(import|export)\s+type\b/, '')) &&
      braces.split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '));
    refs.push({ specifier: match[3]!, typeOnly: match[2] !== undefined || allTypeNames });
  }
  for (const pattern of IMPORT_PATTERNS.slice(1)) for (const match of code.matchAll(pattern)) refs.push({ specifier: match[1]!, typeOnly: false });
  return refs;
}

/** A `./x.js` import names `./x.ts` in TypeScript sources; tries the forms tsx and tsc accept. */
function resolveFile(base: string): string | undefined {
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, `${base}.js`, path.join(base, 'index.ts'), path.join(base, 'index.js')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

/** The file a package's `exports` map gives for `subpath` ('.' or './x/y.js'); undefined if not exported. */
function resolveExport(pkg: PackageInfo, subpath: string): string | undefined {
  const exportsField = pkg.manifest.exports;
  if (exportsField === undefined) return resolveFile(path.join(pkg.dir, subpath === '.' ? 'index.js' : subpath));
  const map = typeof exportsField === 'string' ? { '.': exportsField } : (exportsField as Record<string, unknown>);
  const target = (key: string): string | undefined => {
    const value = map[key];
    if (typeof value === 'string') return value;
    if (value && typeof value === 'object') {
      const conditions = value as Record<string, unknown>;
      const chosen = conditions.import ?? conditions.node ?? conditions.default;
      return typeof chosen === 'string' ? chosen : undefined;
    }
    return undefined;
  };
  const exact = target(subpath);
  if (exact) return resolveFile(path.join(pkg.dir, exact));
  for (const key of Object.keys(map)) {
    if (!key.endsWith('*')) continue;
    const prefix = key.slice(0, -1);
    if (!subpath.startsWith(prefix)) continue;
    const pattern = target(key);
    if (pattern) return resolveFile(path.join(pkg.dir, pattern.replace('*', subpath.slice(prefix.length))));
  }
  return undefined;
}

function packageNameOf(specifier: string): { name: string; subpath: string } {
  const parts = specifier.split('/');
  const nameParts = specifier.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, nameParts).join('/');
  const rest = parts.slice(nameParts).join('/');
  return { name, subpath: rest ? `./${rest}` : '.' };
}

/** Strongly connected components of size > 1 (or self-loops): the import cycles. */
function findCycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const lowlinks = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    indices.set(node, index);
    lowlinks.set(node, index);
    index++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indices.has(next)) {
        visit(next);
        lowlinks.set(node, Math.min(lowlinks.get(node)!, lowlinks.get(next)!));
      } else if (onStack.has(next)) {
        lowlinks.set(node, Math.min(lowlinks.get(node)!, indices.get(next)!));
      }
    }
    if (lowlinks.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)?.has(node)) cycles.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!indices.has(node)) visit(node);
  return cycles;
}

export function checkBoundaries(root: string): Violation[] {
  const packages = readPackages(root);
  const byName = new Map(packages.map((p) => [p.name, p]));
  const workspaceDirs = new Set(packages.filter((p) => p.dir !== root).map((p) => p.dir));
  const rel = (file: string) => path.relative(root, file);
  const violations: Violation[] = [];
  const graph = new Map<string, Set<string>>();

  const ownerOf = (file: string): PackageInfo =>
    packages.filter((p) => file === p.dir || file.startsWith(p.dir + path.sep)).sort((a, b) => b.dir.length - a.dir.length)[0]!;

  for (const pkg of packages) {
    const nested = new Set([...workspaceDirs].filter((d) => d !== pkg.dir));
    const declared = { ...pkg.manifest.dependencies, ...pkg.manifest.devDependencies, ...pkg.manifest.peerDependencies };
    for (const file of sourceFiles(pkg.dir, nested)) {
      const edges = new Set<string>();
      graph.set(file, edges);
      for (const { specifier, typeOnly } of importsOf(readFileSync(file, 'utf8'))) {
        let target: string | undefined;
        if (specifier.startsWith('.')) {
          target = resolveFile(path.resolve(path.dirname(file), specifier));
          if (!target) {
            violations.push({ kind: 'unresolved-import', file: rel(file), detail: specifier });
            continue;
          }
          const owner = ownerOf(target);
          if (owner !== pkg) {
            violations.push({ kind: 'relative-import-leaves-package', file: rel(file), detail: `'${specifier}' reaches into ${owner.name} (${rel(target)}); import it as '${owner.name}'` });
            continue;
          }
        } else {
          if (specifier.startsWith('node:') || BUILTINS.has(specifier)) continue;
          const { name, subpath } = packageNameOf(specifier);
          const isDeclared = name in declared || (typeOnly && `@types/${name}` in declared) || name === pkg.name;
          if (!isDeclared) violations.push({ kind: 'undeclared-dependency', file: rel(file), detail: `'${name}' is not in ${rel(path.join(pkg.dir, 'package.json')) || 'package.json'}` });
          const workspace = byName.get(name);
          if (!workspace || workspace.dir === root) continue;
          if (subpath === './src' || subpath.startsWith('./src/')) {
            violations.push({ kind: 'imports-src-of-package', file: rel(file), detail: `'${specifier}': import what ${name} exports, not its src/` });
            continue;
          }
          target = resolveExport(workspace, subpath);
          if (!target) {
            violations.push({ kind: 'unresolved-import', file: rel(file), detail: `'${specifier}' is not exported by ${name}` });
            continue;
          }
        }
        if (!typeOnly) edges.add(target);
      }
    }
  }
  for (const cycle of findCycles(graph)) violations.push({ kind: 'cycle', file: rel(cycle[0]!), detail: cycle.map(rel).join(' -> ') });
  return violations;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const violations = checkBoundaries(root);
  for (const v of violations) console.log(`${v.kind}: ${v.file}: ${v.detail}`);
  console.log(violations.length === 0 ? 'package boundaries: ok' : `package boundaries: ${violations.length} violation(s)`);
  process.exitCode = violations.length === 0 ? 0 : 1;
}
