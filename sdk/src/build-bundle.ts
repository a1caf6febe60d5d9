/**
 * The esbuild step of `flotilla build`: the app module → one classic script
 * (`bundle.js`) whose only effect is `Flotilla.serve(<default export>)`.
 * Imports of Node built-ins and native addons fail with the import chain
 * that led to them from the entry (the browser build uses the same check:
 * {@link importGraph}).
 *
 * Node-only.
 *
 * @module
 */
import { isBuiltin } from 'node:module';
import { basename, dirname, isAbsolute, relative } from 'node:path';
import { build, formatMessages, type Message, type Plugin, transform } from 'esbuild';
import { buildFailure } from './build-errors.ts';
import type { ClientScripts } from './router/page.ts';

/**
 * The esbuild options of a bundle the runtime loads: one classic script
 * (IIFE) for an isolate without Node built-ins. Tools that build bundles
 * by other means (benchmarks, tests) use the same.
 */
export const ISOLATE_BUNDLE_OPTIONS = {
  bundle: true,
  write: false,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  jsx: 'automatic',
} as const;

/**
 * esbuild's `supported` flags a bundle that uses AsyncLocalStorage is
 * lowered with: async functions, async generators and `for await` become
 * generators over promises, whose awaits call `Promise.prototype.then`,
 * which carries the async context in the isolate (a native `await` does not
 * call it). See `runtime/README.md`, "AsyncLocalStorage".
 */
export const ASYNC_CONTEXT_LOWERING = {
  'async-await': false,
  'async-generator': false,
  'for-await': false,
} as const;

/** `node:async_hooks` and `async_hooks`. */
const ASYNC_HOOKS = /^(node:)?async_hooks$/;
const ASYNC_HOOKS_NAMESPACE = 'flotilla-async-hooks';
/** What the build gives for `node:async_hooks`: the isolate's AsyncLocalStorage, nothing else. */
const ASYNC_HOOKS_MODULE = [
  'export const AsyncLocalStorage = globalThis.Flotilla.AsyncLocalStorage;',
  'export default { AsyncLocalStorage };',
].join('\n');
/** esbuild's complaint about an import of a name the module does not export. */
const MISSING_EXPORT =
  /^(?:No matching export in|Import "[^"]+" will always be undefined because there is no matching export in) "(?:flotilla-async-hooks:)?node:async_hooks"(?: for import "([^"]+)")?/;

/**
 * Maps `node:async_hooks` (and `async_hooks`) to the isolate's
 * AsyncLocalStorage, and records that the bundle uses it (it is then
 * lowered: {@link ASYNC_CONTEXT_LOWERING}). Register it before
 * {@link importGraph}'s plugin, which refuses Node built-ins.
 */
function asyncHooksPlugin(uses: { asyncContext: boolean }): Plugin {
  return {
    name: 'flotilla-async-hooks',
    setup(b) {
      b.onResolve({ filter: ASYNC_HOOKS }, () => {
        uses.asyncContext = true;
        return { path: 'node:async_hooks', namespace: ASYNC_HOOKS_NAMESPACE };
      });
      b.onLoad({ filter: /.*/, namespace: ASYNC_HOOKS_NAMESPACE }, () => ({
        contents: ASYNC_HOOKS_MODULE,
        loader: 'js',
      }));
    },
  };
}

/**
 * The message for what a build imports from `node:async_hooks` besides
 * AsyncLocalStorage (esbuild's error or warning `message`), or null.
 */
function asyncHooksMisuse(message: Message, root: string): string | null {
  const match = MISSING_EXPORT.exec(message.text);
  if (match === null) return null;
  const name = match[1] ?? /^Import "([^"]+)"/.exec(message.text)?.[1] ?? '?';
  const file = message.location?.file;
  // esbuild names files relative to its working directory (the root).
  const shown = file && isAbsolute(file) ? relative(root, file) : file;
  const at = shown ? `: ${shown.split('\\').join('/')}` : '';
  return `imports "${name}" from "node:async_hooks", which bundles cannot use (the isolate provides only AsyncLocalStorage from it)${at}`;
}

/** Options of {@link bundleEntry}. */
export interface BundleEntryOptions {
  /** App name, for error messages. */
  app: string;
  /** Absolute path of the app module. */
  entry: string;
  /** Directory paths in messages are shown relative to. */
  root: string;
  /** Extra esbuild defines; `process.env.NODE_ENV`, `__FLOTILLA_ASSETS__` and `__FLOTILLA_CLIENT__` always win. */
  define: Record<string, string>;
  /** Plain asset path → hashed path, compiled in as `__FLOTILLA_ASSETS__`. */
  hashedPaths: Record<string, string>;
  /**
   * Package export conditions to resolve with, e.g. `['workerd', 'worker',
   * 'browser']` for a framework's server build (React DOM's edge renderer).
   * @default esbuild's for the browser platform
   */
  conditions?: string[];
  /** The browser code's scripts, compiled in as `__FLOTILLA_CLIENT__`. @default none (`null`) */
  client?: ClientScripts | undefined;
  /**
   * Package name → absolute path of a module to use in its place (esbuild's
   * `alias`), e.g. a stub for a package a framework's server build imports
   * for a feature the isolate cannot run. @default none
   */
  alias?: Record<string, string>;
  /**
   * esbuild plugins that run before Flotilla's own (a connector's redirects,
   * e.g. an optional Node built-in a framework can do without). @default none
   */
  plugins?: Plugin[];
}

/** An import the isolate cannot satisfy. */
interface Unbundlable {
  kind: 'builtin' | 'native';
  /** The specifier as written (built-ins) or the resolved `.node` path (native). */
  target: string;
  /** Absolute path of the importing file, if it is a file. */
  importer: string | undefined;
}

/**
 * `pluginData` key of a resolution a plugin asks esbuild for while
 * resolving (`build.resolve`): the plugins of the build leave it alone.
 */
export const INNER_RESOLVE = 'flotilla.resolve.inner';

/** Whether a plugin's resolve callback is called for its own inner resolution. */
export function isInnerResolve(args: { pluginData?: unknown }): boolean {
  return Boolean((args.pluginData as Record<string, unknown> | undefined)?.[INNER_RESOLVE]);
}

/** Name of the virtual module that imports the entry and serves it. */
const ENTRY_NAME = '<flotilla-entry>';

/** What {@link importGraph} gives a build. */
export interface ImportGraph {
  /** The esbuild plugin that records the graph (register it after plugins that redirect imports). */
  plugin: Plugin;
  /**
   * The BuildError for a failed build: esbuild's diagnostics, and the
   * import chain from the entry to each Node built-in or native addon.
   */
  failure(error: unknown): Promise<Error>;
}

/**
 * Records who imports what in a build of `app`, so that an import the
 * isolate (or a browser) cannot satisfy fails with the chain of imports
 * that led to it from the entry (`src/app.ts → src/lib/db.ts → node:fs`).
 *
 * @param root - Directory paths in messages are shown relative to.
 */
export function importGraph(app: string, root: string): ImportGraph {
  /** Resolved file → the file that first imported it. */
  const parents = new Map<string, string>();
  const problems: Unbundlable[] = [];

  const plugin: Plugin = {
    name: 'flotilla-import-graph',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (isInnerResolve(args)) return undefined;
        const importer =
          args.namespace === 'file' &&
          isAbsolute(args.importer) &&
          basename(args.importer) !== ENTRY_NAME
            ? args.importer
            : undefined;
        const result = await b.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          namespace: args.namespace,
          resolveDir: args.resolveDir,
          with: args.with,
          pluginData: { [INNER_RESOLVE]: true },
        });
        if (result.errors.length > 0) {
          if (isBuiltin(args.path) || args.path.startsWith('node:')) {
            problems.push({ kind: 'builtin', target: args.path, importer });
          }
          // esbuild resolves it again and reports the failure with its location.
          return undefined;
        }
        if (result.namespace === 'file' && !result.external) {
          if (importer !== undefined && !parents.has(result.path) && result.path !== importer) {
            parents.set(result.path, importer);
          }
          if (result.path.endsWith('.node')) {
            problems.push({ kind: 'native', target: result.path, importer });
            return undefined;
          }
        }
        return {
          path: result.path,
          namespace: result.namespace,
          external: result.external,
          sideEffects: result.sideEffects,
          suffix: result.suffix,
          pluginData: result.pluginData,
        };
      });
    },
  };
  return { plugin, failure: (error) => describeFailure(app, root, error, problems, parents) };
}

/**
 * Bundles `entry` for the isolate: an esbuild IIFE for the browser platform
 * (ES2022, minified, automatic JSX, `process.env.NODE_ENV` = `"production"`,
 * `__FLOTILLA_ASSETS__` = the hashed asset paths, `__FLOTILLA_CLIENT__` =
 * the browser code's scripts or `null`).
 *
 * @returns The bytes of `bundle.js`.
 * @throws BuildError `FLOTILLA_ERR_BUILD` with esbuild's diagnostics, or
 * naming the import chain to a Node built-in or native addon.
 */
export async function bundleEntry(options: BundleEntryOptions): Promise<Uint8Array> {
  const { app, entry, root } = options;
  const graph = importGraph(app, root);
  const uses = { asyncContext: false };
  const virtualEntry = [
    `import handler from ${JSON.stringify(entry)};`,
    'globalThis.Flotilla.serve(handler);',
  ].join('\n');

  let result: Awaited<ReturnType<typeof build<{ write: false }>>>;
  try {
    result = await build({
      stdin: {
        contents: virtualEntry,
        resolveDir: dirname(entry),
        sourcefile: ENTRY_NAME,
        loader: 'js',
      },
      ...ISOLATE_BUNDLE_OPTIONS,
      absWorkingDir: root,
      define: {
        ...options.define,
        __FLOTILLA_ASSETS__: JSON.stringify(options.hashedPaths),
        __FLOTILLA_CLIENT__: JSON.stringify(options.client ?? null),
        'process.env.NODE_ENV': '"production"',
      },
      ...(options.conditions ? { conditions: options.conditions } : {}),
      ...(options.alias ? { alias: options.alias } : {}),
      // A connector's own plugins first: they may stand in for modules (SvelteKit's optional node:async_hooks).
      plugins: [...(options.plugins ?? []), asyncHooksPlugin(uses), graph.plugin],
      logLevel: 'silent',
    });
  } catch (error) {
    throw await graph.failure(error);
  }
  const file = result.outputFiles[0];
  if (!file) throw buildFailure(app, 'esbuild produced no output');
  // A namespace import's missing name is only a warning to esbuild: it is an error here.
  const misuse = result.warnings.map((w) => asyncHooksMisuse(w, root)).filter((m) => m !== null);
  if (misuse.length === 1) throw buildFailure(app, misuse[0] ?? '');
  if (misuse.length > 1) {
    throw buildFailure(
      app,
      `${misuse.length} build error(s):\n${misuse.map((l) => `  - ${l}`).join('\n')}`,
    );
  }
  if (!uses.asyncContext) return file.contents;
  // Only bundles that use AsyncLocalStorage pay for the lowering.
  return new TextEncoder().encode(await lowerForAsyncContext(file.text));
}

/**
 * A bundle (one classic script) with its async functions, async generators
 * and `for await` lowered ({@link ASYNC_CONTEXT_LOWERING}), minified, as
 * {@link bundleEntry} lowers a bundle that imports `node:async_hooks`. For
 * tools that build bundles by other means (benchmarks, tests).
 */
export async function lowerForAsyncContext(code: string): Promise<string> {
  const lowered = await transform(code, {
    supported: ASYNC_CONTEXT_LOWERING,
    target: ISOLATE_BUNDLE_OPTIONS.target,
    minify: ISOLATE_BUNDLE_OPTIONS.minify,
    // Its helpers (__async…) go inside a function scope, not on the global object.
    format: 'iife',
  });
  return lowered.code;
}

async function describeFailure(
  app: string,
  root: string,
  error: unknown,
  problems: Unbundlable[],
  parents: Map<string, string>,
): Promise<Error> {
  const show = (path: string): string => {
    const rel = relative(root, path);
    return rel === '' || isAbsolute(rel) ? path : rel.split('\\').join('/');
  };
  const chainTo = (importer: string | undefined, last: string): string => {
    const chain = [last];
    const seen = new Set<string>();
    for (let at = importer; at !== undefined && !seen.has(at); at = parents.get(at)) {
      seen.add(at);
      chain.unshift(show(at));
    }
    return chain.join(' → ');
  };

  const lines: string[] = [];
  const explained = new Set<string>();
  for (const p of dedupe(problems)) {
    if (p.kind === 'builtin') {
      explained.add(`"${p.target}"`);
      lines.push(
        `imports the Node built-in "${p.target}", which bundles cannot use (they run in an isolate, without Node's APIs): ${chainTo(p.importer, p.target)}`,
      );
    } else {
      explained.add('".node"');
      lines.push(
        `imports the native addon ${show(p.target)}, which bundles cannot load (they run in an isolate; use a pure-JS or Wasm package instead): ${chainTo(p.importer, show(p.target))}`,
      );
    }
  }

  const errors = (error as { errors?: Message[] } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) {
    const message = error instanceof Error ? error.message : String(error);
    return buildFailure(
      app,
      lines.length > 0 ? lines.join('\n  ') : `esbuild failed: ${message}`,
      error,
    );
  }
  const rest: Message[] = [];
  for (const e of errors) {
    const misuse = asyncHooksMisuse(e, root);
    if (misuse !== null) lines.push(misuse);
    else if (![...explained].some((token) => e.text.includes(token))) rest.push(e);
  }
  const formatted =
    rest.length > 0
      ? (await formatMessages(rest, { kind: 'error', color: false })).join('\n').trimEnd()
      : '';
  if (lines.length === 1 && formatted === '') return buildFailure(app, lines[0] ?? '', error);
  const head =
    lines.length > 0
      ? `${lines.length + rest.length} build error(s):\n${lines.map((l) => `  - ${l}`).join('\n')}`
      : `${rest.length} build error(s):`;
  return buildFailure(app, formatted === '' ? head : `${head}\n\n${formatted}`, error);
}

function dedupe(problems: Unbundlable[]): Unbundlable[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.kind}\0${p.target}\0${p.importer ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
