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
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BundleFramework, ManifestLimits } from '@flotilla/manifest';
import { parseOrThrow } from '@flotilla/protocol/schema';
import { BuildError } from './build-errors.ts';
import {
  DEFAULT_MAX_BUNDLE_BYTES,
  DEFAULT_STATIC_DIR,
  PROJECT_CONFIG_FILE,
  ProjectConfigSchema,
} from './config-schema.ts';
import { detectFramework, type FrameworkDetection } from './detect.ts';
import {
  describeFrameworks,
  FRAMEWORKS,
  isEntryFramework,
  PROJECT_FRAMEWORKS,
  type ProjectFramework,
  supportedFrameworks,
} from './detect-frameworks.ts';
import { displayPath, readJsonFile } from './project-files.ts';

export { DEFAULT_MAX_BUNDLE_BYTES, DEFAULT_STATIC_DIR, displayPath, PROJECT_CONFIG_FILE };

/** A project's `flotilla.config.json`, validated, with paths made absolute. */
export interface ProjectConfig {
  /** Absolute path of the project directory. */
  dir: string;
  /** Absolute path of `flotilla.config.json`. */
  file: string;
  /** App name: 1–50 lower-case letters, digits and `-` (it becomes a host label). */
  name: string;
  /**
   * Absolute path of the app module (config `entry`, relative to the
   * project directory). Always set for `react`, `vue` and `none` apps;
   * meta-frameworks build with their own tooling and need none.
   */
  entry: string | undefined;
  /** The framework: config `framework`, or detected when the config has none. */
  framework: ProjectFramework;
  /**
   * How the framework was detected, when the config names none (undefined
   * when it does).
   */
  detected?: FrameworkDetection;
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
  /** Paths prerendered at promote (config `prerenderRequests`). @default none */
  prerenderRequests?: Array<{ path: string }>;
}

/**
 * Reads and validates `<dir>/flotilla.config.json`.
 * When the config names no `framework`, it is detected
 * ({@link detectFramework}) and `detected` says how.
 *
 * @param dir - The project directory.
 * @returns The config with defaults applied and paths absolute.
 * @throws BuildError `FLOTILLA_ERR_INVALID_OPTION` when the file is missing,
 * is not valid JSON (the message has the line and column), has an unknown
 * field or a bad value (the message names the file and the field), has no
 * `framework` and none can be detected, has no `entry` for a framework that
 * needs one, or when `entry` or `static` does not exist.
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

  const json = await readJsonFile(file, 'flotilla build: ');
  if (json === undefined) {
    throw fail(
      `not found: a project needs a ${PROJECT_CONFIG_FILE} with at least "name" (flotilla init writes one)`,
    );
  }
  const config = parseOrThrow(ProjectConfigSchema, json, '', (field, problem) =>
    fail(field === '' ? problem : `field "${field}" ${problem}`),
  );

  let framework: ProjectFramework;
  let detected: FrameworkDetection | undefined;
  if (config.framework !== undefined) {
    framework = config.framework;
  } else {
    detected = await detectFramework(root).catch((error: unknown) => {
      throw error instanceof BuildError
        ? new BuildError(error.code, `flotilla build: ${error.message}`, { cause: error })
        : error;
    });
    if (detected.framework === undefined) {
      throw fail(
        `has no "framework" and it cannot be detected (${detected.problem}): ` +
          `set "framework" to one of ${PROJECT_FRAMEWORKS.join(', ')}`,
      );
    }
    framework = detected.framework;
  }

  let entryPath: string | undefined;
  if (config.entry === undefined) {
    if (FRAMEWORKS[framework].entry) {
      throw fail(
        `field "entry" is required for a ${framework} app: the module whose default export is ` +
          'a Router or a fetch handler, e.g. "src/app.tsx"',
      );
    }
  } else if (!FRAMEWORKS[framework].entry) {
    throw fail(
      `field "entry" is not used with framework "${framework}" (it builds from its own app directory): remove it`,
    );
  } else {
    entryPath = resolve(root, config.entry);
    if (!(await stat(entryPath).catch(() => undefined))?.isFile()) {
      throw fail(`field "entry" names a file that does not exist: ${displayPath(entryPath)}`);
    }
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
    framework,
    ...(detected ? { detected } : {}),
    backends: config.backends,
    staticDir,
    maxBundleBytes: config.maxBundleBytes,
    define: config.define,
    ...(config.limits ? { limits: config.limits } : {}),
    ...(config.prerenderRequests ? { prerenderRequests: config.prerenderRequests } : {}),
  };
}

/**
 * The framework and entry of a project `flotilla build` bundles from its
 * entry (`react`, `vue`, `none`).
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` for a framework `flotilla build`
 * does not support yet: the message names it, says how it was found (set
 * in the config, or the detection's evidence) and lists what is supported.
 */
export function entryApp(config: ProjectConfig): { framework: BundleFramework; entry: string } {
  const { framework, entry, detected } = config;
  if (isEntryFramework(framework) && entry !== undefined) return { framework, entry };
  const how = detected
    ? `detected: ${detected.evidence.join('; ')}`
    : `"framework": "${framework}" in ${displayPath(config.file)}`;
  throw new BuildError(
    'FLOTILLA_ERR_BUILD',
    `flotilla build: ${config.name}: ${FRAMEWORKS[framework].label} is not supported yet ` +
      `(framework "${framework}", ${how}). flotilla build supports ` +
      `${describeFrameworks(supportedFrameworks())}.`,
  );
}

/**
 * The framework of `buildApp`'s options: one it bundles from an entry.
 *
 * @param fail - Makes the error from the problem.
 */
export function entryFramework(
  framework: ProjectFramework | undefined,
  fail: (problem: string) => BuildError,
): BundleFramework {
  if (framework !== undefined && isEntryFramework(framework)) return framework;
  const known = PROJECT_FRAMEWORKS.filter(isEntryFramework);
  throw fail(
    framework === undefined
      ? `is required (one of ${known.join(', ')})`
      : `"${framework}" (${FRAMEWORKS[framework as ProjectFramework].label}) is not supported by buildApp; it bundles ${describeFrameworks(known)}`,
  );
}
