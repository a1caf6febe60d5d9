/**
 * Steps the framework connectors (React Router, SvelteKit, Angular, Nuxt)
 * share: finding the framework's files in the project or a parent's
 * `node_modules`, running the framework's own build in a child process with
 * its output as progress, refusing Node built-ins with every problem named,
 * and reading a build directory's files as assets.
 *
 * Node-only.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { delimiter, dirname, join, relative } from 'node:path';
import type { BundleFramework, ManifestRoute } from '@flotilla/manifest';
import { type BuildAppResult, type BuildProgress, formatBytes, writeBuild } from '../build.ts';
import type { CollectedAsset } from '../build-assets.ts';
import { buildFailure } from '../build-errors.ts';
import { checkOutDir } from '../build-output.ts';
import { displayPath, type ProjectConfig } from '../project-config.ts';

/** Vite config files Vite itself looks for, in its order. */
export const VITE_CONFIGS = [
  'vite.config.js',
  'vite.config.mjs',
  'vite.config.ts',
  'vite.config.cjs',
  'vite.config.mts',
  'vite.config.cts',
];

/** Lines of the framework's output a failure message repeats. */
const TAIL_LINES = 40;

/** Terminal colours, stripped from the framework's output lines. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matches terminal escapes
const COLOURS = /\u001b\[[0-9;]*m/g;

/** The first of `names` that is a file in `dir`, or undefined. */
export async function firstExisting(dir: string, names: string[]): Promise<string | undefined> {
  for (const name of names) {
    const path = join(dir, name);
    if ((await stat(path).catch(() => undefined))?.isFile()) return path;
  }
  return undefined;
}

/**
 * `<dir or a parent>/<rel>` when it is a file (`node_modules/.bin/vite`,
 * `node_modules/nuxt/package.json`, as npm and pnpm install them), or undefined.
 */
export async function findUp(dir: string, rel: string): Promise<string | undefined> {
  for (let at = dir; ; at = dirname(at)) {
    const path = join(at, rel);
    if ((await stat(path).catch(() => undefined))?.isFile()) return path;
    if (dirname(at) === at) return undefined;
  }
}

/** `PATH` with the running Node's directory first: `.bin` shims call `node`, and this Node is to run them. */
export const pathWithThisNode = (): string =>
  `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;

/** Options of {@link runFrameworkProcess}. */
export interface RunFrameworkProcessOptions {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  progress: (progress: BuildProgress) => void;
  /** Escape sequences stripped from each line. @default terminal colours */
  escapes?: RegExp;
}

/** How the framework's build ended. */
export interface FrameworkProcessExit {
  /** Exit code, or why there is none (`killed by SIGTERM`, a spawn error). */
  code: number | string;
  /** The last lines of its output (stdout and stderr, blank lines left out). */
  tail: string[];
}

/**
 * Runs the framework's own build; each non-blank line of its output goes to
 * `progress` (phase `framework`), and the last ones are kept for a failure message.
 */
export function runFrameworkProcess(
  options: RunFrameworkProcessOptions,
): Promise<FrameworkProcessExit> {
  const { progress } = options;
  const escapes = options.escapes ?? COLOURS;
  const tail: string[] = [];
  return new Promise((resolveExit) => {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onLines = (chunk: Buffer) => {
      for (const raw of chunk.toString('utf8').split(/\r?\n/)) {
        const line = raw.replace(escapes, '').trimEnd();
        if (line === '') continue;
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        progress({ phase: 'framework', detail: line });
      }
    };
    child.stdout.on('data', onLines);
    child.stderr.on('data', onLines);
    child.on('error', (error) => resolveExit({ code: error.message, tail }));
    child.on('close', (exit, signal) => resolveExit({ code: exit ?? `killed by ${signal}`, tail }));
  });
}

/** Throws the build's problems (none: nothing), one as it is, several as a list. */
export function throwProblems(app: string, problems: string[]): void {
  if (problems.length === 1) throw buildFailure(app, problems[0] ?? '');
  if (problems.length > 1) {
    throw buildFailure(
      app,
      `${problems.length} build error(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

/** The relative paths (with `/`) of the files under `root`, dot-files (and what is under dot-directories) left out, sorted. */
export async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)).split('\\').join('/'))
    .filter((rel) => !rel.split('/').some((segment) => segment.startsWith('.')))
    .sort();
}

/** A relative file path (`a b/c.js`) as a URL path (`/a%20b/c.js`). */
export const fileUrlPath = (rel: string): string =>
  `/${rel.split('/').map(encodeURIComponent).join('/')}`;

/** An asset of `data` at `path`. */
export function dataAsset(
  path: string,
  data: Uint8Array,
  contentType: string,
  permanent: boolean,
): CollectedAsset {
  return {
    path,
    hash: createHash('sha256').update(data).digest('hex'),
    bytes: data.byteLength,
    contentType,
    permanent,
    data,
  };
}

/** The file `rel` of `root`, read. */
export const readBytes = async (root: string, rel: string): Promise<Uint8Array> =>
  new Uint8Array(await readFile(join(root, rel)));

/** Assets in the order the manifest lists them (by path). */
export const byPath = (assets: CollectedAsset[]): CollectedAsset[] =>
  assets.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

/** What a connector made of the framework's build: the bundle, its routes, its assets. */
export interface FrameworkBuilt {
  code: Uint8Array;
  routes: ManifestRoute[];
  assets: CollectedAsset[];
}

/** Options of {@link buildWithFramework}. */
export interface BuildWithFrameworkOptions {
  config: ProjectConfig;
  framework: BundleFramework;
  outDir: string;
  progress: (progress: BuildProgress) => void;
  /** Removes `<dir>/.flotilla` too when the build leaves it empty. @default false */
  removeEmptyFlotillaDir?: boolean;
}

/**
 * The frame of a connector's build: checks `outDir`, gives `make` a fresh
 * work directory (`<dir>/.flotilla/<framework>`, removed afterwards), and
 * writes what it made as the build.
 */
export async function buildWithFramework(
  options: BuildWithFrameworkOptions,
  make: (work: string) => Promise<FrameworkBuilt>,
): Promise<BuildAppResult> {
  const { config, framework, outDir, progress } = options;
  const { name, dir, backends, limits } = config;
  progress({ phase: 'config', detail: `${name} (${framework}), app in ${displayPath(dir)}` });
  await checkOutDir({ outDir, name, staticDir: undefined });
  const work = join(dir, '.flotilla', framework);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const { code, routes, assets } = await make(work);
    return await writeBuild({
      name,
      framework,
      code,
      routes,
      backends,
      assets,
      limits,
      prerender: config.prerenderRequests?.map((r) => r.path),
      outDir,
      progress,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
    // `.flotilla/` itself goes too when this build made it and nothing else is in it.
    if (options.removeEmptyFlotillaDir) await rmdir(join(dir, '.flotilla')).catch(() => {});
  }
}

/** `<n> file(s): <h> hashed (<bytes>)`, the start of a connector's assets line. */
export function hashedSummary(assets: CollectedAsset[]): string {
  const hashed = assets.filter((a) => a.permanent);
  return `${assets.length} file(s): ${hashed.length} hashed (${formatBytes(hashed.reduce((n, a) => n + a.bytes, 0))})`;
}
