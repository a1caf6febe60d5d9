/**
 * The module map of a Next.js app's Node-runtime outputs (pages and route
 * handlers without `runtime = 'edge'` that render at request time), for
 * `bundle.js`: every file their traced `assets` list (Next's output file
 * tracing: the entry, Turbopack's chunks and runtime, `next/dist/…`,
 * `react`, the manifests), under one virtual root, as
 * `@flotilla/node-compat`'s CommonJS loader reads them
 * (`module-map.ts` there):
 *
 * - JavaScript is written as wrapper functions (compiled with the bundle,
 *   lowered for async context with it), manifests (`*manifest.js`, which Next
 *   reads with `fs` and runs with `vm`) and other files as text;
 * - source maps, type declarations, READMEs and licences are left out;
 * - every literal `require("…")` of a bare name is resolved here, with
 *   Node's own resolution from the requiring file (symlinks followed, as
 *   pnpm lays packages out), so the isolate needs no `node_modules` lookup.
 *
 * Node-only.
 *
 * @module
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, extname, relative, sep } from 'node:path';
import { MODULE_PARAMS } from '@flotilla/node-compat/names';

/** Files tracing lists that no code reads at run time. */
const LEFT_OUT = /(\.map|\.d\.ts|\.d\.cts|\.d\.mts|\.nft\.json|\.md|LICENSE[^/]*|\.tsbuildinfo)$/i;

/** JavaScript Next reads with `fs` + `vm` rather than `require`s. */
const MANIFEST_JS = /manifest\.js$/;

/** A file that is an ES module (`require` cannot load it; tracing lists some). */
const ESM_SYNTAX = /^(export|import)\s/m;

/** `require("x")`, `require.resolve("x")` with a literal (quotes of either kind). */
const REQUIRE_LITERAL = /\brequire(?:\.resolve)?\(\s*(['"])([^'"\n\\]+)\1\s*\)/g;

/** What {@link collectNodeFiles} found. */
export interface NodeFiles {
  /** Absolute real path → virtual path (`/…`). */
  virtual: Map<string, string>;
  /** The virtual root's real directory. */
  root: string;
  /** JavaScript source of `bundle.js` defining the map (`globalThis.__flotillaNextModules`). */
  source: string;
  /** Bytes of the files in the map (before minification). */
  bytes: number;
  /** How many files. */
  count: number;
  /** Node built-ins the files require by literal name (bare names). */
  builtins: Set<string>;
}

/** The deepest directory holding all of `paths`. */
function commonDir(paths: string[]): string {
  let common = dirname(paths[0] ?? sep);
  for (const p of paths) {
    while (
      !(`${p}`.startsWith(common.endsWith(sep) ? common : `${common}${sep}`) || p === common)
    ) {
      const up = dirname(common);
      if (up === common) return common;
      common = up;
    }
  }
  return common;
}

/** A package's export condition for `require` without "module-sync" (string or nested conditions). */
function requireCondition(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (entry === null || typeof entry !== 'object') return undefined;
  const conditions = entry as Record<string, unknown>;
  for (const key of ['require', 'node', 'default']) {
    if (key in conditions) return requireCondition(conditions[key]);
  }
  return undefined;
}

/**
 * The CommonJS file a package exports for `spec` (its `require` /
 * `default` condition), when Node resolved it to `resolved`, an ES module.
 */
async function commonJsExport(spec: string, resolved: string): Promise<string | undefined> {
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
  const subpath = `.${spec.slice(name.length)}`;
  for (let dir = dirname(resolved); dirname(dir) !== dir; dir = dirname(dir)) {
    const pkg = await readFile(`${dir}${sep}package.json`, 'utf8').then(
      (text) => JSON.parse(text) as { name?: string; exports?: Record<string, unknown> },
      () => undefined,
    );
    if (pkg?.name !== name) continue;
    const target = requireCondition(pkg.exports?.[subpath]);
    return target === undefined
      ? undefined
      : realpath(`${dir}${sep}${target}`).catch(() => undefined);
  }
  return undefined;
}

/** Removes a trailing `//# sourceMappingURL=…` (the maps are not in the bundle). */
function stripSourceMap(text: string): string {
  return text.replace(/\n\/\/# sourceMappingURL=[^\n]*\s*$/, '\n');
}

/**
 * Reads the files `assetLists` name (absolute paths; symlinks followed;
 * directories and {@link LEFT_OUT} files skipped) plus `projectDir`'s
 * place, and writes the module map's source.
 */
export async function collectNodeFiles(
  assetLists: string[][],
  projectDir: string,
): Promise<NodeFiles> {
  const real = new Set<string>();
  for (const list of assetLists) {
    for (const file of list) {
      if (LEFT_OUT.test(file)) continue;
      const at = await realpath(file).catch(() => undefined);
      if (at === undefined || LEFT_OUT.test(at)) continue;
      if (!(await stat(at)).isFile()) continue;
      real.add(at);
    }
  }
  const projectReal = await realpath(projectDir);
  const root = commonDir([...real, `${projectReal}${sep}x`]);
  const toVirtual = (file: string) => `/${relative(root, file).split(sep).join('/')}`;
  const virtual = new Map<string, string>();
  for (const file of real) virtual.set(file, toVirtual(file));

  const modules: string[] = [];
  const texts: Record<string, string> = {};
  const resolved: Record<string, Record<string, string>> = {};
  const builtins = new Set<string>();
  let bytes = 0;
  const isEsm = async (file: string) =>
    file.endsWith('.mjs') || ESM_SYNTAX.test(await readFile(file, 'utf8'));
  const queue = [...real].sort();
  for (let i = 0; i < queue.length; i++) {
    const file = queue[i] ?? '';
    const name = virtual.get(file) ?? '';
    const text = stripSourceMap(await readFile(file, 'utf8'));
    bytes += Buffer.byteLength(text);
    const ext = extname(file);
    const isCode = (ext === '.js' || ext === '.cjs') && !MANIFEST_JS.test(file);
    if (isCode && ESM_SYNTAX.test(text)) continue;
    if (ext === '.mjs') continue;
    if (!isCode) {
      texts[name] = text;
      continue;
    }
    const table: Record<string, string> = {};
    const require = createRequire(file);
    for (const match of text.matchAll(REQUIRE_LITERAL)) {
      const spec = match[2] ?? '';
      if (Object.hasOwn(table, spec)) continue;
      if (isBuiltin(spec)) {
        const bare = spec.startsWith('node:') ? spec.slice(5) : spec;
        table[spec] = `node:${bare}`;
        builtins.add(bare);
        continue;
      }
      if (spec.startsWith('.') || spec.startsWith('/')) continue;
      let target: string | undefined;
      try {
        target = await realpath(require.resolve(spec));
      } catch {
        continue;
      }
      // Node 24 resolves `require` with "module-sync" too, to ES modules the isolate cannot require.
      if (!virtual.has(target) || (await isEsm(target))) {
        target = await commonJsExport(spec, target);
        if (
          target !== undefined &&
          !virtual.has(target) &&
          !relative(root, target).startsWith('..')
        ) {
          virtual.set(target, toVirtual(target));
          queue.push(target);
        }
      }
      const at = target === undefined ? undefined : virtual.get(target);
      if (at !== undefined) table[spec] = at;
    }
    if (Object.keys(table).length > 0) resolved[name] = table;
    modules.push(`${JSON.stringify(name)}:function(${MODULE_PARAMS.join(',')}){${text}\n}`);
  }
  const source = `globalThis.__flotillaNextModules={modules:{${modules.join(',\n')}},texts:${JSON.stringify(texts)},resolved:${JSON.stringify(resolved)}};`;
  return { virtual, root, source, bytes, count: queue.length, builtins };
}
