/**
 * `buildApp`: turns an app module into the two files the fleet deploys,
 * `bundle.js` (one classic script evaluated inside an isolate) and
 * `manifest.json`.
 *
 * Node-only (it runs esbuild): import it from `@flotilla/sdk/build` or
 * `@flotilla/sdk`, never from code that ends up inside a bundle.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { build, formatMessages, type Message } from 'esbuild';
import type { BundleFramework, BundleManifest, ManifestRoute } from './types.ts';

/** Default cap on `bundle.js`: 10 MiB. */
export const DEFAULT_MAX_BUNDLE_BYTES = 10 * 1024 * 1024;

/** Options of {@link buildApp}. */
export interface BuildAppOptions {
  /**
   * Path of the app module (relative to the current directory or absolute).
   * Its default export must be a `FetchHandler`.
   */
  entry: string;
  /** Directory that receives `bundle.js` and `manifest.json`; created if missing. */
  outDir: string;
  /** App name: lower-case letters, digits and `-`, 1–63 characters (it becomes a host label). */
  name: string;
  /** Framework the app renders with. */
  framework: BundleFramework;
  /** Routes to declare in the manifest. @defaultValue `[]` */
  routes?: ManifestRoute[];
  /** Largest accepted `bundle.js`, in bytes. @defaultValue 10 MiB ({@link DEFAULT_MAX_BUNDLE_BYTES}) */
  maxBundleBytes?: number;
  /**
   * Extra esbuild `define`s (identifier → JS expression as source text), e.g.
   * Vue's `__VUE_OPTIONS_API__: 'true'`. `process.env.NODE_ENV` is always
   * `"production"`.
   */
  define?: Record<string, string>;
}

/** What {@link buildApp} wrote. */
export interface BuildAppResult {
  /** Absolute path of `bundle.js`. */
  bundlePath: string;
  /** Absolute path of `manifest.json`. */
  manifestPath: string;
  /** The manifest as written. */
  manifest: BundleManifest;
}

const FRAMEWORKS: readonly BundleFramework[] = ['react', 'vue', 'none'];
const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const METHOD_PATTERN = /^[A-Z]+$/;
const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Bundles `entry` into `<outDir>/bundle.js` and writes `<outDir>/manifest.json`.
 *
 * The bundle is an esbuild IIFE for the browser platform (ES2022, minified,
 * `process.env.NODE_ENV` = `"production"`, automatic JSX) whose only effect
 * is `globalThis.Flotilla.serve(<default export of entry>)`. Both files are
 * written to a temporary name and renamed into place.
 *
 * @param options - See {@link BuildAppOptions}.
 * @returns Paths of the written files and the manifest.
 * @throws Error when an option is invalid (the message names it), when
 * esbuild fails (the message holds esbuild's formatted diagnostics and names
 * any Node built-in the app imports), or when the bundle is larger than
 * `maxBundleBytes`.
 */
export async function buildApp(options: BuildAppOptions): Promise<BuildAppResult> {
  const opts = validateOptions(options);
  const entry = resolve(opts.entry);
  const outDir = resolve(opts.outDir);

  const entryStat = await stat(entry).catch(() => undefined);
  if (!entryStat?.isFile()) {
    throw new Error(`buildApp: option "entry": file not found: ${entry}`);
  }

  const virtualEntry = [
    `import handler from ${JSON.stringify(entry)};`,
    'globalThis.Flotilla.serve(handler);',
  ].join('\n');

  let code: Uint8Array;
  try {
    const result = await build({
      stdin: {
        contents: virtualEntry,
        resolveDir: dirname(entry),
        sourcefile: '<flotilla-entry>',
        loader: 'js',
      },
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      jsx: 'automatic',
      define: { ...opts.define, 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    });
    const file = result.outputFiles[0];
    if (!file) throw new Error('esbuild produced no output');
    code = file.contents;
  } catch (error) {
    throw await describeBuildFailure(opts.name, error);
  }

  if (code.byteLength > opts.maxBundleBytes) {
    throw new Error(
      `buildApp: bundle of "${opts.name}" is ${code.byteLength} bytes, over the cap of ` +
        `${opts.maxBundleBytes} bytes (maxBundleBytes)`,
    );
  }

  const manifest: BundleManifest = {
    manifestVersion: 1,
    name: opts.name,
    framework: opts.framework,
    bundleHash: createHash('sha256').update(code).digest('hex'),
    bundleBytes: code.byteLength,
    builtAt: new Date().toISOString(),
    routes: opts.routes.map((r) => ({ method: r.method, path: r.path })),
    backends: {},
  };

  await mkdir(outDir, { recursive: true });
  const bundlePath = join(outDir, 'bundle.js');
  const manifestPath = join(outDir, 'manifest.json');
  await writeAtomically(bundlePath, code);
  await writeAtomically(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { bundlePath, manifestPath, manifest };
}

interface ValidOptions {
  entry: string;
  outDir: string;
  name: string;
  framework: BundleFramework;
  routes: ManifestRoute[];
  maxBundleBytes: number;
  define: Record<string, string>;
}

function validateOptions(options: BuildAppOptions): ValidOptions {
  const bad = (option: string, why: string): Error =>
    new Error(`buildApp: option "${option}" ${why}`);
  if (typeof options !== 'object' || options === null) {
    throw new Error('buildApp: options must be an object');
  }
  const { entry, outDir, name, framework, routes = [], define = {} } = options;
  const maxBundleBytes = options.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES;

  if (typeof entry !== 'string' || entry === '') throw bad('entry', 'must be a non-empty path');
  if (typeof outDir !== 'string' || outDir === '') {
    throw bad('outDir', 'must be a non-empty path');
  }
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw bad(
      'name',
      `must be 1-63 lower-case letters, digits or "-", not starting or ending with "-" (got ${JSON.stringify(name)})`,
    );
  }
  if (!FRAMEWORKS.includes(framework)) {
    throw bad(
      'framework',
      `must be one of ${FRAMEWORKS.join(', ')} (got ${JSON.stringify(framework)})`,
    );
  }
  if (!Array.isArray(routes)) throw bad('routes', 'must be an array of { method, path }');
  routes.forEach((route, i) => {
    if (typeof route !== 'object' || route === null) {
      throw bad(`routes[${i}]`, 'must be an object { method, path }');
    }
    if (typeof route.method !== 'string' || !METHOD_PATTERN.test(route.method)) {
      throw bad(
        `routes[${i}].method`,
        `must be an upper-case HTTP method (got ${JSON.stringify(route.method)})`,
      );
    }
    if (typeof route.path !== 'string' || !route.path.startsWith('/')) {
      throw bad(`routes[${i}].path`, `must start with "/" (got ${JSON.stringify(route.path)})`);
    }
  });
  if (!Number.isSafeInteger(maxBundleBytes) || maxBundleBytes <= 0) {
    throw bad('maxBundleBytes', `must be a positive integer (got ${String(maxBundleBytes)})`);
  }
  if (typeof define !== 'object' || define === null || Array.isArray(define)) {
    throw bad('define', 'must be a record of identifier → expression source');
  }
  for (const [key, value] of Object.entries(define)) {
    if (typeof value !== 'string') {
      throw bad(`define.${key}`, `must be a string of JS source (got ${typeof value})`);
    }
  }
  return { entry, outDir, name, framework, routes, maxBundleBytes, define };
}

/** Turns an esbuild failure into one readable Error. */
async function describeBuildFailure(name: string, error: unknown): Promise<Error> {
  const errors = (error as { errors?: Message[] } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) {
    const message = error instanceof Error ? error.message : String(error);
    return new Error(`buildApp: build of "${name}" failed: ${message}`, { cause: error });
  }
  const lines: string[] = [];
  for (const e of errors) {
    const match = /^Could not resolve "([^"]+)"/.exec(e.text);
    const specifier = match?.[1];
    if (specifier !== undefined && NODE_BUILTINS.has(specifier)) {
      const where = e.location ? ` (imported from ${e.location.file}:${e.location.line})` : '';
      lines.push(
        `imports the Node built-in "${specifier}"${where}; bundles run in an isolate without Node built-ins`,
      );
    }
  }
  const formatted = await formatMessages(errors, { kind: 'error', color: false });
  const summary = lines.length > 0 ? `\n${lines.map((l) => `  - ${l}`).join('\n')}` : '';
  return new Error(
    `buildApp: build of "${name}" failed with ${errors.length} error(s)${summary}\n\n${formatted.join('\n').trimEnd()}`,
    { cause: error },
  );
}

async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
