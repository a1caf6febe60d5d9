/**
 * A CommonJS loader over a deployment's files (a module map the build wrote
 * into `bundle.js`), for framework server code that `require`s its own
 * files by path (Next.js's Node runtime: loader stubs, Turbopack chunks,
 * `next/dist/…`). Nothing here reads the host: every file is one the build
 * put in the map.
 *
 * - JavaScript files are functions the build wrapped
 *   (`(exports, require, module, __filename, __dirname) => …`), so they are
 *   compiled with the bundle (and lowered for async context with it);
 * - other files (JSON, manifests, `BUILD_ID`) are text, served to `require`
 *   (JSON) and to the read-only `fs` (see `fs.ts`);
 * - bare specifiers were resolved at build time, per requiring file (Node's
 *   own resolution, symlinks followed), into {@link ModuleMap.resolved};
 *   `require` of an absolute or relative path resolves at run time against
 *   the map (`.js`, `.json`, `/index.js`).
 *
 * @module
 */
import * as path from 'unenv/runtime/node/path/index';
import { MODULE_PARAMS } from './names.ts';

/** A CommonJS module's wrapper function, as the build wrote it. */
export type ModuleFunction = (
  exports: unknown,
  require: (specifier: string) => unknown,
  module: { exports: unknown },
  __filename: string,
  __dirname: string,
  ...globals: unknown[]
) => void;

/** What the build wrote: the deployment's files under one virtual root (`/`). */
export interface ModuleMap {
  /** JavaScript files: absolute virtual path → wrapper. */
  modules: Record<string, ModuleFunction>;
  /** Other files (and JavaScript manifests read with `fs`): absolute virtual path → text. */
  texts: Record<string, string>;
  /**
   * Build-time resolution of the literal specifiers each file requires:
   * requiring file → specifier → virtual path, or `node:<name>` for a
   * built-in; a specifier absent here resolves at run time (paths only).
   */
  resolved: Record<string, Record<string, string>>;
}

/** A loaded module, as `require.cache` would hold it. */
interface LoadedModule {
  id: string;
  filename: string;
  exports: unknown;
  loaded: boolean;
  children: LoadedModule[];
  paths: string[];
  require?: (specifier: string) => unknown;
}

/** Options of {@link createModuleLoader}. */
export interface ModuleLoaderOptions {
  /** The map the build wrote. */
  map: ModuleMap;
  /** Built-ins by name (`node:` stripped): returns the module or throws naming it. */
  builtin: (name: string) => unknown;
  /** Whether a bare name (no `node:`) is a built-in; other bare names the build did not resolve are not found. */
  isBuiltin: (name: string) => boolean;
  /** Values of the wrapper's parameters after the five of CommonJS (see `MODULE_PARAMS`). */
  extraArgs?: readonly unknown[];
}

/** A loader over one {@link ModuleMap}. */
export interface ModuleLoader {
  /** `require` of an absolute virtual path (or a built-in), from outside any module. */
  require(specifier: string): unknown;
  /** Whether a virtual path is a file of the map. */
  has(file: string): boolean;
  /** The text of a file of the map (a JavaScript module's is not kept: `undefined`). */
  text(file: string): string | undefined;
  /** Files and directories directly under `dir` (for `fs.readdirSync`). */
  list(dir: string): string[];
  /** Whether `dir` holds files of the map. */
  isDir(dir: string): boolean;
}

const BUILTIN_PREFIX = 'node:';

/** Error Node throws for a module it cannot find, with its `code`. */
function notFound(specifier: string, from: string): Error {
  const error = new Error(
    `Cannot find module '${specifier}' from ${from}: the build did not put it in the deployment's files`,
  ) as Error & { code: string };
  error.code = 'MODULE_NOT_FOUND';
  return error;
}

/** Makes a loader over `options.map` (see the module documentation). */
export function createModuleLoader(options: ModuleLoaderOptions): ModuleLoader {
  const { map, builtin } = options;
  const extra = options.extraArgs ?? [];
  const cache = new Map<string, LoadedModule>();
  const dirs = new Map<string, Set<string>>();
  for (const file of [...Object.keys(map.modules), ...Object.keys(map.texts)]) {
    let at = file;
    while (at !== '/') {
      const parent = path.dirname(at);
      let entries = dirs.get(parent);
      if (entries === undefined) {
        entries = new Set();
        dirs.set(parent, entries);
      }
      entries.add(path.basename(at));
      at = parent;
    }
  }
  const isFile = (file: string): boolean =>
    Object.hasOwn(map.modules, file) || Object.hasOwn(map.texts, file);

  function resolvePath(base: string): string | undefined {
    for (const candidate of [
      base,
      `${base}.js`,
      `${base}.json`,
      `${base}.cjs`,
      `${base}/index.js`,
      `${base}/index.json`,
    ]) {
      if (isFile(candidate)) return candidate;
    }
    return undefined;
  }

  function resolve(specifier: string, from: string): string {
    const known = map.resolved[from]?.[specifier];
    if (known !== undefined) return known;
    if (specifier.startsWith(BUILTIN_PREFIX)) return specifier;
    if (specifier.startsWith('/') || specifier.startsWith('./') || specifier.startsWith('../')) {
      const found = resolvePath(path.resolve(path.dirname(from), specifier));
      if (found !== undefined) return found;
      throw notFound(specifier, from);
    }
    // A bare name the build did not see as a literal: a built-in, or not in the map.
    if (options.isBuiltin(specifier)) return `${BUILTIN_PREFIX}${specifier}`;
    throw notFound(specifier, from);
  }

  function load(file: string, parent: LoadedModule | undefined): unknown {
    if (file.startsWith(BUILTIN_PREFIX)) return builtin(file.slice(BUILTIN_PREFIX.length));
    const cached = cache.get(file);
    if (cached !== undefined) return cached.exports;
    const module: LoadedModule = {
      id: file,
      filename: file,
      exports: {},
      loaded: false,
      children: [],
      paths: [],
    };
    const fn = map.modules[file];
    const text = map.texts[file];
    if (fn === undefined && text === undefined) throw notFound(file, parent?.filename ?? '/');
    cache.set(file, module);
    parent?.children.push(module);
    try {
      if (fn === undefined && file.endsWith('.json')) module.exports = JSON.parse(text ?? '');
      else {
        // A JavaScript file the build kept as text (a manifest) is compiled
        // here, as the isolate allows code generation (see README.md).
        const run = fn ?? (new Function(...MODULE_PARAMS, text ?? '') as ModuleFunction);
        run.call(
          module.exports,
          module.exports,
          requireFrom(module),
          module,
          file,
          path.dirname(file),
          ...extra,
        );
      }
      module.loaded = true;
    } catch (error) {
      cache.delete(file);
      throw error;
    }
    return module.exports;
  }

  function requireFrom(module: LoadedModule): (specifier: string) => unknown {
    const req = (specifier: string): unknown =>
      load(resolve(String(specifier), module.filename), module);
    const resolveFn = (specifier: string): string => resolve(String(specifier), module.filename);
    Object.assign(req, { resolve: resolveFn, cache: {}, main: undefined });
    module.require = req;
    return req;
  }

  const root: LoadedModule = {
    id: '.',
    filename: '/',
    exports: {},
    loaded: true,
    children: [],
    paths: [],
  };
  const rootRequire = requireFrom(root);

  return {
    require: rootRequire,
    has: isFile,
    text: (file) => map.texts[file],
    list: (dir) => [...(dirs.get(dir === '/' ? '/' : dir.replace(/\/+$/, '')) ?? [])].sort(),
    isDir: (dir) => dirs.has(dir === '/' ? '/' : dir.replace(/\/+$/, '')),
  };
}
