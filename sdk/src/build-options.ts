/**
 * The options of `buildApp`, checked and resolved into what a build runs
 * with.
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { BundleFramework, ManifestLimits } from '@flotilla/manifest';
import { parseOrThrow } from '@flotilla/protocol/schema';
import type { BuildAppOptions, BuildProgress } from './build.ts';
import { BuildError } from './build-errors.ts';
import { CONFIG_FIELDS } from './config-schema.ts';
import { entryFramework } from './project-config.ts';

/** What a build runs with: the options checked, paths absolute. */
export interface BuildSpec {
  name: string;
  framework: BundleFramework;
  /** Absolute. */
  entry: string;
  /** Directory paths in messages are shown relative to. */
  root: string;
  /** Absolute. */
  outDir: string;
  backends: Record<string, string>;
  /** Absolute, or undefined. */
  staticDir: string | undefined;
  maxBundleBytes: number;
  define: Record<string, string>;
  /** Undefined when the app asks for none. */
  limits?: ManifestLimits | undefined;
  prerenderRequests?: Array<{ path: string }> | undefined;
  progress: (progress: BuildProgress) => void;
}

const BUILD_APP_OPTIONS = [
  'entry',
  'outDir',
  'name',
  'framework',
  'backends',
  'staticDir',
  'maxBundleBytes',
  'define',
  'limits',
  'prerenderRequests',
  'onProgress',
];

/** Checks the options of `buildApp` (the message names a bad one). */
export async function validateOptions(options: BuildAppOptions): Promise<BuildSpec> {
  const bad = (option: string, why: string): BuildError =>
    new BuildError('FLOTILLA_ERR_INVALID_OPTION', `buildApp: option "${option}" ${why}`);
  if (typeof options !== 'object' || options === null) {
    throw new BuildError('FLOTILLA_ERR_INVALID_OPTION', 'buildApp: options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (key === 'routes') {
      throw bad(
        'routes',
        'is no longer supported: routes are described by the Router the entry exports (manifest v2); ' +
          'a plain fetch handler gets one catch-all route',
      );
    }
    if (!BUILD_APP_OPTIONS.includes(key)) {
      throw bad(key, `is not a known option (known: ${BUILD_APP_OPTIONS.join(', ')})`);
    }
  }
  const { entry, outDir, onProgress } = options;
  if (typeof entry !== 'string' || entry === '') throw bad('entry', 'must be a non-empty path');
  if (typeof outDir !== 'string' || outDir === '') {
    throw bad('outDir', 'must be a non-empty path');
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw bad('onProgress', 'must be a function');
  }
  // The options a flotilla.config.json also has are checked by its schemas.
  const field = <K extends keyof typeof CONFIG_FIELDS>(key: K) =>
    parseOrThrow(CONFIG_FIELDS[key], options[key as keyof BuildAppOptions], key, bad);
  const name = field('name');
  const framework = entryFramework(field('framework'), (problem) => bad('framework', problem));
  const maxBundleBytes = field('maxBundleBytes');
  const define = field('define');
  const backends = field('backends') ?? {};
  const asked = field('limits');
  const limits = asked && Object.keys(asked).length > 0 ? asked : undefined;
  const prerenderRequests = field('prerenderRequests');

  const entryPath = resolve(entry);
  if (!(await stat(entryPath).catch(() => undefined))?.isFile()) {
    throw bad('entry', `names a file that does not exist: ${entryPath}`);
  }
  let staticDir: string | undefined;
  if (options.staticDir !== undefined) {
    if (typeof options.staticDir !== 'string' || options.staticDir === '') {
      throw bad('staticDir', 'must be a non-empty path');
    }
    staticDir = resolve(options.staticDir);
    if (!(await stat(staticDir).catch(() => undefined))?.isDirectory()) {
      throw bad('staticDir', `names a directory that does not exist: ${staticDir}`);
    }
  }
  return {
    name,
    framework,
    entry: entryPath,
    root: process.cwd(),
    outDir: resolve(outDir),
    backends,
    staticDir,
    maxBundleBytes,
    define,
    limits,
    prerenderRequests,
    progress: onProgress ?? (() => {}),
  };
}
