/**
 * `flotilla.config.json`: what `flotilla build` reads from a project
 * directory.
 *
 * ```json
 * {
 *   "name": "shop",
 *   "entry": "src/app.tsx",
 *   "framework": "react",
 *   "backends": { "api": "https://api.shop.example" },
 *   "static": "public",
 *   "maxBundleBytes": 10485760,
 *   "define": { "__FEATURE_X__": "true" },
 *   "limits": { "cpuMs": 200, "heapMb": 64 }
 * }
 * ```
 *
 * The rules are the schema of `config-schema.ts` (from which
 * `sdk/flotilla.config.schema.json` is generated: `"$schema"` in a config
 * gives editors completion); this module reads the file, applies them and
 * checks the paths. Node-only.
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { BundleFramework, ManifestLimits } from '@flotilla/manifest';
import { parseOrThrow } from '@flotilla/protocol/schema';
import { BuildError } from './build-errors.ts';
import {
  DEFAULT_MAX_BUNDLE_BYTES,
  DEFAULT_STATIC_DIR,
  PROJECT_CONFIG_FILE,
  ProjectConfigSchema,
} from './config-schema.ts';

export { DEFAULT_MAX_BUNDLE_BYTES, DEFAULT_STATIC_DIR, PROJECT_CONFIG_FILE };

/** A project's `flotilla.config.json`, validated, with paths made absolute. */
export interface ProjectConfig {
  /** Absolute path of the project directory. */
  dir: string;
  /** Absolute path of `flotilla.config.json`. */
  file: string;
  /** App name: 1–50 lower-case letters, digits and `-` (it becomes a host label). */
  name: string;
  /**
   * Absolute path of the app module (config `entry`, relative to the project
   * directory); undefined with framework `react-router`, which builds from
   * its own app directory.
   */
  entry: string | undefined;
  framework: BundleFramework;
  /** Named backends, name → normalised origin (`http://API.example:80/` → `http://api.example`). @default {} */
  backends: Record<string, string>;
  /**
   * Absolute path of the static files directory (config `static`), or
   * undefined when the project has none.
   * @default `<dir>/public` when it exists
   */
  staticDir: string | undefined;
  /** Largest accepted `bundle.js`, in bytes. @default 10 MiB ({@link DEFAULT_MAX_BUNDLE_BYTES}) */
  maxBundleBytes: number;
  /** Extra esbuild defines (identifier → JS source). @default {} */
  define: Record<string, string>;
  /**
   * Sandbox limits the app asks for (config `limits`), written to the
   * manifest: each a positive integer, `heapMb` at least 8. A worker holds
   * the deployment to the smaller of these and the operator's limits.
   * Absent (or `{}`): the operator's limits.
   * @default undefined
   * @example { cpuMs: 200, heapMb: 64 }
   */
  limits?: ManifestLimits;
}

/** A path as shown in messages: relative to the current directory when inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/**
 * Reads and validates `<dir>/flotilla.config.json`.
 *
 * @param dir - The project directory.
 * @returns The config with defaults applied and paths absolute.
 * @throws BuildError `FLOTILLA_ERR_INVALID_OPTION` when the file is missing,
 * is not valid JSON (the message has the line and column), has an unknown
 * field or a bad value (the message names the file and the field), or when
 * `entry` or `static` does not exist.
 * @example
 * const config = await loadProjectConfig('examples/react-shop');
 * config.entry; // '/…/examples/react-shop/src/app.tsx'
 */
export async function loadProjectConfig(dir: string): Promise<ProjectConfig> {
  const root = resolve(dir);
  const file = join(root, PROJECT_CONFIG_FILE);
  const shown = displayPath(file);
  const fail = (problem: string): BuildError =>
    new BuildError('FLOTILLA_ERR_INVALID_OPTION', `flotilla build: ${shown}: ${problem}`);

  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw fail(
        `not found: a project needs a ${PROJECT_CONFIG_FILE} with at least "name", "framework" and (except for "react-router") "entry"`,
      );
    }
    throw fail(`cannot be read: ${(error as Error).message}`);
  }

  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    const { line, column, reason } = locateJsonError(text, (error as Error).message);
    throw new BuildError(
      'FLOTILLA_ERR_INVALID_OPTION',
      `flotilla build: ${shown}:${line}:${column}: invalid JSON: ${reason}`,
    );
  }
  const config = parseOrThrow(ProjectConfigSchema, json, '', (field, problem) =>
    fail(field === '' ? problem : `field "${field}" ${problem}`),
  );

  // React Router builds from its own app directory (routes.ts): no entry module.
  const needsEntry = config.framework !== 'react-router';
  if (config.entry === undefined && needsEntry) throw fail('field "entry" is required');
  if (config.entry !== undefined && !needsEntry) {
    throw fail(
      'field "entry" is not used with framework "react-router" (the app directory and its routes.ts are the entry): remove it',
    );
  }
  const entryPath = config.entry === undefined ? undefined : resolve(root, config.entry);
  if (entryPath !== undefined && !(await stat(entryPath).catch(() => undefined))?.isFile()) {
    throw fail(`field "entry" names a file that does not exist: ${displayPath(entryPath)}`);
  }

  let staticDir: string | undefined;
  if (config.static !== undefined) {
    staticDir = resolve(root, config.static);
    if (!(await stat(staticDir).catch(() => undefined))?.isDirectory()) {
      throw fail(`field "static" names a directory that does not exist: ${displayPath(staticDir)}`);
    }
  } else {
    const candidate = join(root, DEFAULT_STATIC_DIR);
    if ((await stat(candidate).catch(() => undefined))?.isDirectory()) staticDir = candidate;
  }

  return {
    dir: root,
    file,
    name: config.name,
    entry: entryPath,
    framework: config.framework,
    backends: config.backends,
    staticDir,
    maxBundleBytes: config.maxBundleBytes,
    define: config.define,
    ...(config.limits ? { limits: config.limits } : {}),
  };
}

/** Line and column (1-based) of a JSON.parse failure, and its reason without V8's position suffix. */
function locateJsonError(
  text: string,
  message: string,
): { line: number; column: number; reason: string } {
  const reason = message
    .replace(/\s*\(line \d+ column \d+\)\s*$/, '')
    .replace(/\s+in JSON at position \d+.*$/, '')
    .replace(/^JSON\.parse: /, '');
  const lineColumn = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lineColumn) {
    return { line: Number(lineColumn[1]), column: Number(lineColumn[2]), reason };
  }
  const position = /position (\d+)/.exec(message);
  const offset = position ? Number(position[1]) : text.length;
  const before = text.slice(0, offset).split('\n');
  return {
    line: before.length,
    column: (before[before.length - 1]?.length ?? 0) + 1,
    reason,
  };
}
