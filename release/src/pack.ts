/**
 * `./run pack`: builds `dist/` of every publishable package (`tsc -b` of the
 * root `tsconfig.build.json`: JavaScript and `.d.ts` from `src/`, tests
 * left out), checks it, and packs each package with `pnpm pack`, which
 * rewrites `workspace:*` to the version and applies `publishConfig`. The
 * tarballs install with plain npm.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  BUILD_CONFIG,
  checkBuilt,
  checkPacked,
  type PublishablePackage,
  packagingError,
  REPO_ROOT,
  readPublishable,
} from './packages.ts';

const run = promisify(execFile);

/** Options of {@link packAll}. */
export interface PackOptions {
  /** Directory the tarballs are written to (created if missing; tarballs of the same name are replaced). */
  outDir: string;
  /**
   * The repository.
   * @default the repository this module is in
   */
  root?: string;
  /** Called with a line of progress at each step. */
  onProgress?: (line: string) => void;
}

/** A packed package. */
export interface PackedPackage {
  name: string;
  version: string;
  /** Absolute path of its tarball. */
  tarball: string;
  /** Size of the tarball in bytes. */
  bytes: number;
}

/** Runs a tool of the workspace (`tsc`, `pnpm`) to completion; throws with its output when it fails. */
async function tool(root: string, command: string, args: string[], cwd: string): Promise<string> {
  const bin = join(root, 'node_modules', '.bin');
  try {
    const { stdout } = await run(command, args, {
      cwd,
      env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const output = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim();
    throw packagingError(
      `${command} ${args.join(' ')} failed in ${cwd}${output ? `:\n${output}` : `: ${e.message}`}`,
      err,
    );
  }
}

/** The file name `pnpm pack` gives `@flotilla/sdk` 0.2.0: `flotilla-sdk-0.2.0.tgz`. */
export function tarballName(name: string, version: string): string {
  return `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`;
}

async function packOne(
  root: string,
  p: PublishablePackage,
  outDir: string,
): Promise<PackedPackage> {
  const { name, version } = p.manifest;
  await tool(root, 'pnpm', ['pack', '--pack-destination', outDir], p.dir);
  const tarball = join(outDir, tarballName(name, version));
  const bytes = (await stat(tarball).catch(() => undefined))?.size;
  if (bytes === undefined) throw packagingError(`pnpm pack of ${name} wrote no ${tarball}`);
  const packed = await tool(root, 'tar', ['-xzOf', tarball, 'package/package.json'], outDir);
  let json: unknown;
  try {
    json = JSON.parse(packed);
  } catch (err) {
    throw packagingError(`${tarball}: package.json is not JSON`, err);
  }
  checkPacked(json, version, tarball);
  return { name, version, tarball, bytes };
}

/**
 * Builds and packs every publishable package into `outDir`, in build order.
 * Each package's `dist/` is rebuilt from scratch.
 *
 * @throws FlotillaError `FLOTILLA_ERR_BUILD` naming the package and what is
 * wrong (a manifest field, a missing build output, a failed tool).
 */
export async function packAll(options: PackOptions): Promise<PackedPackage[]> {
  const root = resolve(options.root ?? REPO_ROOT);
  const outDir = resolve(options.outDir);
  const say = options.onProgress ?? (() => {});
  const packages = await readPublishable(root);
  const version = packages[0]?.manifest.version ?? '?';
  say(`pack: ${packages.length} packages at ${version}: building dist/ (tsc -b ${BUILD_CONFIG})`);
  await Promise.all(packages.map((p) => rm(join(p.dir, 'dist'), { recursive: true, force: true })));
  // --force: the incremental state lives outside dist/ and would call a removed dist/ up to date.
  await tool(root, 'tsc', ['-b', BUILD_CONFIG, '--force'], root);
  for (const p of packages) await checkBuilt(p);
  await mkdir(outDir, { recursive: true });
  const packed: PackedPackage[] = [];
  for (const [i, p] of packages.entries()) {
    const result = await packOne(root, p, outDir);
    say(
      `pack: [${i + 1}/${packages.length}] ${result.name} → ${tarballName(result.name, result.version)} ` +
        `(${(result.bytes / 1024).toFixed(1)} KB)`,
    );
    packed.push(result);
  }
  say(`pack: ${packed.length} tarballs in ${outDir}`);
  return packed;
}
