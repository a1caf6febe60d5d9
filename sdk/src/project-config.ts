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
 * Node-only.
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import {
  type BundleFramework,
  ManifestError,
  type ManifestLimits,
  validateManifestLimits,
} from '@flotilla/manifest';
import { normalizeOrigin } from '@flotilla/protocol';
import { BuildError } from './build-errors.ts';

/** Name of the project file {@link loadProjectConfig} reads. */
export const PROJECT_CONFIG_FILE = 'flotilla.config.json';

/** Default cap on `bundle.js`: 10 MiB. */
export const DEFAULT_MAX_BUNDLE_BYTES = 10 * 1024 * 1024;

/** Static directory used when `static` is absent and the directory exists. */
export const DEFAULT_STATIC_DIR = 'public';

/** A project's `flotilla.config.json`, validated, with paths made absolute. */
export interface ProjectConfig {
  /** Absolute path of the project directory. */
  dir: string;
  /** Absolute path of `flotilla.config.json`. */
  file: string;
  /** App name: 1–50 lower-case letters, digits and `-` (it becomes a host label). */
  name: string;
  /** Absolute path of the app module (config `entry`, relative to the project directory). */
  entry: string;
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

export const FRAMEWORKS: readonly BundleFramework[] = ['react', 'vue', 'none'];
export const APP_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$/;
const BACKEND_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const FIELDS = [
  '$schema',
  'name',
  'entry',
  'framework',
  'backends',
  'static',
  'maxBundleBytes',
  'define',
  'limits',
] as const;

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
        `not found: a project needs a ${PROJECT_CONFIG_FILE} with at least "name", "entry" and "framework"`,
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
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw fail('must hold a JSON object');
  }
  const raw = json as Record<string, unknown>;
  const field = (name: string, problem: string): BuildError => fail(`field "${name}" ${problem}`);

  for (const key of Object.keys(raw)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw field(
        key,
        `is not a known field (known: ${FIELDS.filter((f) => f !== '$schema').join(', ')})`,
      );
    }
  }

  const { name, entry, framework } = raw;
  if (name === undefined) throw field('name', 'is required');
  if (typeof name !== 'string' || !APP_NAME_PATTERN.test(name)) {
    throw field(
      'name',
      `must be 1-50 lower-case letters, digits or "-", not starting or ending with "-" (with its 13-character hash suffix a deployment id stays one 63-character host label) (got ${JSON.stringify(name)})`,
    );
  }
  if (entry === undefined) throw field('entry', 'is required');
  if (typeof entry !== 'string' || entry === '') {
    throw field('entry', `must be a path relative to the project (got ${JSON.stringify(entry)})`);
  }
  if (framework === undefined) throw field('framework', 'is required');
  if (typeof framework !== 'string' || !FRAMEWORKS.includes(framework as BundleFramework)) {
    throw field(
      'framework',
      `must be one of ${FRAMEWORKS.join(', ')} (got ${JSON.stringify(framework)})`,
    );
  }

  const entryPath = resolve(root, entry);
  if (!(await stat(entryPath).catch(() => undefined))?.isFile()) {
    throw field('entry', `names a file that does not exist: ${displayPath(entryPath)}`);
  }

  let backends: Record<string, string> = {};
  if (raw.backends !== undefined) {
    backends = validateBackends(raw.backends, (f, problem) => field(f, problem), 'backends');
  }

  let staticDir: string | undefined;
  if (raw.static !== undefined) {
    if (typeof raw.static !== 'string' || raw.static === '') {
      throw field(
        'static',
        `must be a directory relative to the project (got ${JSON.stringify(raw.static)})`,
      );
    }
    staticDir = resolve(root, raw.static);
    if (!(await stat(staticDir).catch(() => undefined))?.isDirectory()) {
      throw field('static', `names a directory that does not exist: ${displayPath(staticDir)}`);
    }
  } else {
    const candidate = join(root, DEFAULT_STATIC_DIR);
    if ((await stat(candidate).catch(() => undefined))?.isDirectory()) staticDir = candidate;
  }

  const maxBundleBytes = raw.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  if (
    typeof maxBundleBytes !== 'number' ||
    !Number.isSafeInteger(maxBundleBytes) ||
    maxBundleBytes <= 0
  ) {
    throw field(
      'maxBundleBytes',
      `must be a positive integer number of bytes (got ${JSON.stringify(raw.maxBundleBytes)})`,
    );
  }

  const define = validateDefine(raw.define ?? {}, (f, problem) => field(f, problem), 'define');
  const limits = validateLimits(raw.limits, (f, problem) => field(f, problem), 'limits');

  return {
    dir: root,
    file,
    name,
    entry: entryPath,
    framework: framework as BundleFramework,
    backends,
    staticDir,
    maxBundleBytes,
    define,
    ...(limits ? { limits } : {}),
  };
}

/**
 * Validates the sandbox limits an app asks for (as a manifest's `limits`:
 * `cpuMs`, `wallMs`, `heapMb`, `outputBytes`, `bundleBytes`,
 * `backendResponseBytes`, each a positive integer, `heapMb` at least 8).
 *
 * @returns The limits, or undefined when `value` is undefined or sets none.
 */
export function validateLimits(
  value: unknown,
  fail: (field: string, problem: string) => Error,
  prefix: string,
): ManifestLimits | undefined {
  if (value === undefined) return undefined;
  let limits: ManifestLimits;
  try {
    limits = validateManifestLimits(value, prefix);
  } catch (error) {
    if (error instanceof ManifestError) throw fail(error.field, error.problem);
    throw error;
  }
  return Object.keys(limits).length > 0 ? limits : undefined;
}

/**
 * Validates a backends record (name → origin) and returns it with origins
 * normalised. Names: 1–63 of `a-z`, `0-9`, `-`, `_`, starting with a letter
 * or digit. Origins: absolute `http:`/`https:` URLs with nothing but scheme,
 * host and port.
 */
export function validateBackends(
  value: unknown,
  fail: (field: string, problem: string) => Error,
  prefix: string,
): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail(prefix, 'must be an object of backend name → origin URL');
  }
  const out: Record<string, string> = {};
  for (const [name, origin] of Object.entries(value)) {
    const where = `${prefix}.${name}`;
    if (!BACKEND_NAME_PATTERN.test(name)) {
      throw fail(
        where,
        'is not a valid backend name: 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit',
      );
    }
    if (typeof origin !== 'string') {
      throw fail(where, `must be an origin URL string (got ${JSON.stringify(origin)})`);
    }
    const normalized = normalizeOrigin(origin);
    if (normalized === undefined) {
      throw fail(
        where,
        `must be an http: or https: origin with only scheme, host and port, e.g. "https://api.example.com" (got ${JSON.stringify(origin)})`,
      );
    }
    out[name] = normalized;
  }
  return out;
}

/** Validates esbuild defines (identifier → JS source string). */
export function validateDefine(
  value: unknown,
  fail: (field: string, problem: string) => Error,
  prefix: string,
): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail(prefix, 'must be an object of identifier → JS expression source');
  }
  const out: Record<string, string> = {};
  for (const [key, source] of Object.entries(value)) {
    if (typeof source !== 'string') {
      throw fail(
        `${prefix}.${key}`,
        `must be a string of JS source, e.g. "true" or "\\"text\\"" (got ${JSON.stringify(source)})`,
      );
    }
    out[key] = source;
  }
  return out;
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
