/**
 * Framework detection: which framework a project renders with, from its
 * `package.json` (dependencies and devDependencies) and the config files at
 * its root, and why. `flotilla build` uses it when `flotilla.config.json`
 * names no `framework`; `flotilla init` writes what it finds. Node-only.
 *
 * @module
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { got, parseOrThrow, plainObject, table } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { BuildError } from './build-errors.ts';
import { describeFrameworks, FRAMEWORKS, type ProjectFramework } from './detect-frameworks.ts';
import { displayPath, readJsonFile } from './project-files.ts';

/** The frameworks in the order of {@link FRAMEWORKS}: meta-frameworks first. */
const DETECTION_ORDER = Object.keys(FRAMEWORKS) as ProjectFramework[];

/** What {@link detectFramework} found. */
export interface FrameworkDetection {
  /**
   * The framework, or `undefined` when the project is empty (no
   * `package.json`, no framework config file) or ambiguous (see `problem`).
   */
  framework: ProjectFramework | undefined;
  /**
   * Why, one finding per line: `package.json depends on next 16.5.0`,
   * `found next.config.ts`.
   */
  evidence: string[];
  /**
   * Why no framework was decided, when `framework` is `undefined`: `no
   * package.json in <dir>`, `more than one framework: …`.
   */
  problem?: string;
  /** Every framework that matched (more than one when ambiguous). */
  candidates: ProjectFramework[];
}

const Dependencies = v.optional(
  table(
    v.string(),
    v.string(got('must be a version string')),
    got('must be an object of package name → version'),
  ),
);

/** The fields of `package.json` Flotilla reads; the others are kept as they are. */
const PackageJsonSchema = v.pipe(
  plainObject(got('must hold a JSON object')),
  v.looseObject({
    name: v.optional(v.string(got('must be a string'))),
    dependencies: Dependencies,
    devDependencies: Dependencies,
  }),
);

/** A project's `package.json`. */
export interface PackageJson {
  /** Absolute path of the file. */
  file: string;
  /** Its `name`, if any. */
  name: string | undefined;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  /** The whole file as parsed (for tools that rewrite it). */
  json: Record<string, unknown>;
}

/**
 * Reads `<dir>/package.json`.
 *
 * @returns The file, or `undefined` when there is none.
 * @throws BuildError `FLOTILLA_ERR_INVALID_OPTION` when it is not valid
 * JSON or a field Flotilla reads has the wrong type (the message names the
 * file, and the line or the field).
 */
export async function readPackageJson(dir: string): Promise<PackageJson | undefined> {
  const file = join(resolve(dir), 'package.json');
  const json = await readJsonFile(file);
  if (json === undefined) return undefined;
  const parsed = parseOrThrow(
    PackageJsonSchema,
    json,
    '',
    (field, problem) =>
      new BuildError(
        'FLOTILLA_ERR_INVALID_OPTION',
        `${displayPath(file)}: ${field === '' ? problem : `field "${field}" ${problem}`}`,
      ),
  );
  return {
    file,
    name: parsed.name,
    dependencies: parsed.dependencies ?? {},
    devDependencies: parsed.devDependencies ?? {},
    json: json as Record<string, unknown>,
  };
}

/** `<name> <version>` (with ` (devDependencies)` for a dev one), or undefined when it is no dependency. */
function dependencyOn(pkg: PackageJson | undefined, name: string): string | undefined {
  if (pkg === undefined) return undefined;
  if (Object.hasOwn(pkg.dependencies, name)) return `${name} ${pkg.dependencies[name]}`;
  if (Object.hasOwn(pkg.devDependencies, name)) {
    return `${name} ${pkg.devDependencies[name]} (devDependencies)`;
  }
  return undefined;
}

/**
 * Decides which framework the project in `dir` renders with: `next`,
 * `nuxt`, `angular` (Angular SSR), `sveltekit`, `react-router` (framework
 * mode), `react`, `vue`, or `none` (a `package.json` depending on none of
 * them: a fetch handler or a Router without a UI framework).
 *
 * A framework matches when `package.json` depends on one of its packages
 * or a config file of its is at the project root. A meta-framework wins
 * over the UI library it renders with (Next.js over React). Two
 * meta-frameworks, or React and Vue without one, are ambiguous: no
 * framework, and `problem` says why.
 *
 * @param dir - The project directory.
 * @returns The framework (or none) and the evidence.
 * @throws BuildError `FLOTILLA_ERR_INVALID_OPTION` when `dir` is not a
 * readable directory or its `package.json` is malformed.
 * @example
 * const { framework, evidence } = await detectFramework('.');
 * // 'next', ['package.json depends on next 16.5.0', 'found next.config.ts']
 */
export async function detectFramework(dir: string): Promise<FrameworkDetection> {
  const root = resolve(dir);
  let files: string[];
  try {
    files = (await readdir(root)).sort();
  } catch (error) {
    throw new BuildError(
      'FLOTILLA_ERR_INVALID_OPTION',
      `${displayPath(root)}: cannot read the project directory: ${(error as Error).message}`,
    );
  }
  const pkg = await readPackageJson(root);

  const found = new Map<ProjectFramework, string[]>();
  /** Per framework, its packages the project depends on (`react 19.3.1`). */
  const depends = new Map<ProjectFramework, string[]>();
  for (const framework of DETECTION_ORDER) {
    const info = FRAMEWORKS[framework];
    const packages = info.packages.flatMap((name) => dependencyOn(pkg, name) ?? []);
    const evidence = packages.map((dependency) => `package.json depends on ${dependency}`);
    for (const file of files) {
      if (info.configFiles?.test(file)) evidence.push(`found ${file}`);
    }
    depends.set(framework, packages);
    if (evidence.length > 0) found.set(framework, evidence);
  }
  const candidates = [...found.keys()];
  const metas = candidates.filter((framework) => FRAMEWORKS[framework].meta);
  const libraries = candidates.filter((framework) => !FRAMEWORKS[framework].meta);
  const everything = candidates.flatMap((framework) => found.get(framework) ?? []);

  if (metas.length > 1 || (metas.length === 0 && libraries.length > 1)) {
    return {
      framework: undefined,
      evidence: everything,
      problem: `more than one framework: ${describeFrameworks(metas.length > 1 ? metas : libraries)}`,
      candidates,
    };
  }
  const meta = metas[0];
  if (meta !== undefined) {
    const info = FRAMEWORKS[meta];
    const evidence = [...(found.get(meta) ?? [])];
    const server = info.serverPackage;
    if (server && dependencyOn(pkg, server.name) === undefined) {
      evidence.push(
        `package.json has no ${server.name}: the app does not render on a server yet (${server.hint})`,
      );
    }
    for (const library of libraries) {
      evidence.push(
        `package.json also depends on ${(depends.get(library) ?? []).join(', ')}: ` +
          `${info.label} renders with it, and the meta-framework wins`,
      );
    }
    return { framework: meta, evidence, candidates };
  }
  const library = libraries[0];
  if (library !== undefined) {
    return { framework: library, evidence: found.get(library) ?? [], candidates };
  }
  if (pkg === undefined) {
    return {
      framework: undefined,
      evidence: [],
      problem: `no package.json and no framework config file in ${displayPath(root)}`,
      candidates,
    };
  }
  const known = DETECTION_ORDER.flatMap((framework) => FRAMEWORKS[framework].packages);
  return {
    framework: 'none',
    evidence: [`package.json depends on none of ${known.join(', ')}`],
    candidates: ['none'],
  };
}

/**
 * One line for progress output: `framework "next" (Next.js), detected:
 * package.json depends on next 16.5.0; found next.config.ts`.
 */
export function describeDetection(detection: FrameworkDetection): string {
  const { framework, evidence, problem } = detection;
  const what =
    framework === undefined
      ? `no framework detected (${problem})`
      : `framework "${framework}" (${FRAMEWORKS[framework].label}), detected`;
  return evidence.length === 0 ? what : `${what}: ${evidence.join('; ')}`;
}
