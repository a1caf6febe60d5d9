/**
 * The publishable packages and what each must hold to install with plain
 * npm: the references of the root `tsconfig.build.json` name them, in build
 * order, and each `package.json` follows {@link PublishableManifestSchema}
 * (lockstep version, MIT licence, Node ≥ 20, `dist/` in `files`, and
 * `publishConfig.exports` into `dist/` with `types`, which `pnpm pack`
 * puts in place of the workspace's `exports` into `src/`).
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlotillaError } from '@flotilla/protocol';
import { describeValue } from '@flotilla/protocol/patterns';
import { got, parseOrThrow, requiredString, table } from '@flotilla/protocol/schema';
import * as v from 'valibot';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The build of the publishable packages: its references are the packages, in build order. */
export const BUILD_CONFIG = 'tsconfig.build.json';

/** The licence every published package carries. */
export const LICENSE = 'MIT';

/** The Node versions the published packages install on (`engines.node`). */
export const NODE_RANGE = '>=20';

/** Scope of the published packages. */
const SCOPE = '@flotilla/';

/** `.`, `./build`, `./flotilla.config.schema.json`: a subpath of an exports map. */
const SUBPATH = v.pipe(v.string(), v.regex(/^\.(\/[\w.-]+)*$/, got('must be a subpath like ./x')));

/** A file the package ships: `./dist/…` or another relative file. */
const shipped = (suffix: string, message: string) =>
  v.pipe(
    v.string(got(message)),
    v.check(
      (s) => s.startsWith('./') && !s.startsWith('./src/') && s.endsWith(suffix),
      got(message),
    ),
  );

/** A target of the published exports: built JavaScript with its types, or a plain file. */
const PUBLISHED_TARGET = v.union(
  [
    v.strictObject({
      types: shipped('.d.ts', 'must be a .d.ts file of dist/'),
      default: shipped('.js', 'must be a .js file of dist/'),
    }),
    shipped('', 'must be a shipped file'),
  ],
  got('must be { "types": "./dist/….d.ts", "default": "./dist/….js" } or a shipped file'),
);

const DEPENDENCIES = v.optional(table(v.string(), v.string()), {});

/** What a publishable package's `package.json` holds (other fields are free). */
export const PublishableManifestSchema = v.looseObject({
  name: v.pipe(requiredString(), v.startsWith(SCOPE, got(`must be in the ${SCOPE} scope`))),
  version: v.pipe(
    v.string(),
    v.regex(/^\d+\.\d+\.\d+(-[\w.]+)?$/, got('must be a semver version')),
  ),
  private: v.optional(v.undefined(got('must be absent: the package is published'))),
  license: v.literal(LICENSE, got(`must be "${LICENSE}"`)),
  engines: v.looseObject({ node: v.literal(NODE_RANGE, got(`must be "${NODE_RANGE}"`)) }),
  files: v.pipe(
    v.array(v.string()),
    v.check((files) => files.includes('dist'), got('must include "dist"')),
  ),
  exports: table(SUBPATH, v.string()),
  publishConfig: v.looseObject({ exports: table(SUBPATH, PUBLISHED_TARGET) }),
  dependencies: DEPENDENCIES,
  optionalDependencies: DEPENDENCIES,
  peerDependencies: DEPENDENCIES,
});

/** A publishable package's `package.json`, as {@link PublishableManifestSchema} reads it. */
export type PublishableManifest = v.InferOutput<typeof PublishableManifestSchema>;

/** A version from a registry: not `workspace:`, `file:`, `link:`, a path or a git URL. */
const REGISTRY_SPEC = v.pipe(
  requiredString(),
  v.check(
    (spec) => !/^(workspace|file|link|portal|git(\+\w+)?|https?):|^[./~]/.test(spec),
    got('must be a version from the registry'),
  ),
);
const REGISTRY_DEPENDENCIES = v.optional(table(v.string(), REGISTRY_SPEC), {});

/** What `package.json` holds once packed: what npm installs. */
export const PackedManifestSchema = v.looseObject({
  name: requiredString(),
  version: requiredString(),
  private: v.optional(v.undefined(got('must be absent: the package is published'))),
  exports: table(SUBPATH, PUBLISHED_TARGET),
  dependencies: REGISTRY_DEPENDENCIES,
  optionalDependencies: REGISTRY_DEPENDENCIES,
  peerDependencies: REGISTRY_DEPENDENCIES,
});

/** A publishable package of the workspace. */
export interface PublishablePackage {
  /** Its folder, absolute. */
  dir: string;
  /** Its folder relative to the repository root (`sdk`). */
  folder: string;
  manifest: PublishableManifest;
}

/** A packaging problem: `FLOTILLA_ERR_BUILD` with the file and field at fault. */
export function packagingError(problem: string, cause?: unknown): FlotillaError {
  return new FlotillaError('FLOTILLA_ERR_BUILD', `pack: ${problem}`, { cause });
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw packagingError(`cannot read ${file}: ${(err as Error).message}`, err);
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** The folders a build config references (`{ "references": [{ "path": "./sdk/tsconfig.build.json" }] }`). */
async function referencedFolders(config: string): Promise<string[]> {
  const json = await readJson(config);
  const refs = (json as { references?: unknown }).references;
  if (!Array.isArray(refs)) throw packagingError(`${config}: references must be a list`);
  return refs.map((ref) => {
    const path = (ref as { path?: unknown } | null)?.path;
    if (typeof path !== 'string') {
      throw packagingError(`${config}: a reference has no path (got ${describeValue(ref)})`);
    }
    return dirname(join(dirname(config), path));
  });
}

/** The package's `@flotilla/*` dependencies (regular and optional). */
export function workspaceDependencies(manifest: PublishableManifest): string[] {
  return Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })
    .filter((name) => name.startsWith(SCOPE))
    .sort();
}

/**
 * Reads and checks the publishable packages (root `tsconfig.build.json`),
 * in build order: each manifest against {@link PublishableManifestSchema},
 * one version for all, every `@flotilla/*` dependency publishable and
 * referenced by the package's own `tsconfig.build.json` (so it is built
 * first), and a README.md and the repository's LICENSE beside it.
 *
 * @throws FlotillaError `FLOTILLA_ERR_BUILD` naming the file and the problem.
 */
export async function readPublishable(root: string = REPO_ROOT): Promise<PublishablePackage[]> {
  const folders = await referencedFolders(join(root, BUILD_CONFIG));
  const license = await readFile(join(root, 'LICENSE'), 'utf8').catch((err: unknown) => {
    throw packagingError(`the repository has no LICENSE: ${(err as Error).message}`, err);
  });
  const packages: PublishablePackage[] = [];
  for (const dir of folders) {
    const file = join(dir, 'package.json');
    const show = relative(root, file);
    const manifest = parseOrThrow(
      PublishableManifestSchema,
      await readJson(file),
      '',
      (_field, _problem, said) => packagingError(`${show}: ${said}`),
    );
    packages.push({ dir, folder: relative(root, dir), manifest });
  }
  const names = new Map(packages.map((p) => [p.manifest.name, p]));
  const version = packages[0]?.manifest.version;
  for (const p of packages) {
    const show = `${p.folder}/package.json`;
    if (p.manifest.version !== version) {
      throw packagingError(
        `${show}: version must be ${version}, as every published package (got ${p.manifest.version})`,
      );
    }
    const deps = workspaceDependencies(p.manifest);
    for (const dep of deps) {
      if (!names.has(dep)) {
        throw packagingError(
          `${show}: depends on ${dep}, which is not published (add its tsconfig.build.json to ${BUILD_CONFIG})`,
        );
      }
    }
    const config = join(p.dir, BUILD_CONFIG);
    const refs = (await referencedFolders(config)).map(
      (dir) => packages.find((q) => q.dir === dir)?.manifest.name ?? relative(root, dir),
    );
    if (refs.sort().join() !== deps.join()) {
      throw packagingError(
        `${p.folder}/${BUILD_CONFIG}: references must be the package's @flotilla dependencies ` +
          `(${deps.join(', ') || 'none'}), got ${refs.join(', ') || 'none'}`,
      );
    }
    if (!(await exists(join(p.dir, 'README.md')))) {
      throw packagingError(`${p.folder} has no README.md`);
    }
    const own = await readFile(join(p.dir, 'LICENSE'), 'utf8').catch(() => undefined);
    if (own !== license) {
      throw packagingError(
        `${p.folder}/LICENSE ${own === undefined ? 'is missing' : 'differs from the repository LICENSE'} (copy it)`,
      );
    }
  }
  return packages;
}

/**
 * Checks a package's `dist/` against its exports: every published export's
 * files exist, and every workspace export whose module was built has a
 * published one (a module left out of the build, like a test contract, has
 * none).
 *
 * @throws FlotillaError `FLOTILLA_ERR_BUILD` naming the export.
 */
export async function checkBuilt(p: PublishablePackage): Promise<void> {
  const published = p.manifest.publishConfig.exports;
  for (const [subpath, target] of Object.entries(published)) {
    for (const file of typeof target === 'string' ? [target] : [target.types, target.default]) {
      if (!(await exists(join(p.dir, file)))) {
        throw packagingError(
          `${p.manifest.name}: publishConfig.exports["${subpath}"] names ${file}, which the build did not produce`,
        );
      }
    }
  }
  for (const [subpath, target] of Object.entries(p.manifest.exports)) {
    const built = target.replace(/^\.\/src\/(.*)\.ts$/, './dist/$1.js');
    if (built === target || published[subpath] !== undefined) continue;
    if (await exists(join(p.dir, built))) {
      throw packagingError(
        `${p.manifest.name}: exports["${subpath}"] has no publishConfig.exports["${subpath}"] (its build is ${built})`,
      );
    }
  }
}

/**
 * Checks the `package.json` a tarball holds: no `private`, exports into the
 * shipped files, every dependency from the registry, and the workspace's
 * own packages at `version`.
 *
 * @throws FlotillaError `FLOTILLA_ERR_BUILD` naming the field.
 */
export function checkPacked(json: unknown, version: string, tarball: string): void {
  const packed = parseOrThrow(PackedManifestSchema, json, '', (_field, _problem, said) =>
    packagingError(`${tarball}: package.json ${said}`),
  );
  for (const [field, deps] of Object.entries({
    dependencies: packed.dependencies,
    optionalDependencies: packed.optionalDependencies,
  })) {
    for (const [name, spec] of Object.entries(deps)) {
      if (name.startsWith(SCOPE) && spec !== version) {
        throw packagingError(
          `${tarball}: package.json ${field}.${name} must be ${version} (got ${spec})`,
        );
      }
    }
  }
}
