/**
 * Writing a build: the checks on the output directory, and the write to a
 * temporary directory that then replaces it. Node-only.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { assetFileSegments, type Manifest } from '@flotilla/manifest';
import type { CollectedAsset } from './build-assets.ts';
import { buildFailure } from './build-errors.ts';
import { displayPath } from './project-config.ts';

/** What {@link checkOutDir} checks the output directory against. */
export interface OutDirCheck {
  /** App name, for messages. */
  name: string;
  /** Absolute. */
  outDir: string;
  /** Absolute path of the entry module (none for apps built by their framework's own build). */
  entry?: string | undefined;
  /** Absolute, or undefined. */
  staticDir: string | undefined;
}

/**
 * Refuses an output directory whose replacement would destroy sources or
 * unrelated files: one holding the entry, overlapping the static directory,
 * or a non-empty directory without a `manifest.json`.
 *
 * @throws BuildError naming the directory and what to do.
 */
export async function checkOutDir(spec: OutDirCheck): Promise<void> {
  const { outDir, entry, staticDir, name } = spec;
  const inside = (child: string, parent: string): boolean =>
    child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
  if (entry !== undefined && inside(entry, outDir)) {
    throw buildFailure(
      name,
      `output directory ${displayPath(outDir)} holds the entry; choose another outDir`,
    );
  }
  if (staticDir !== undefined && (inside(staticDir, outDir) || inside(outDir, staticDir))) {
    throw buildFailure(
      name,
      `output directory ${displayPath(outDir)} overlaps the static directory ${displayPath(staticDir)}; choose another outDir`,
    );
  }
  const existing = await stat(outDir).catch(() => undefined);
  if (existing === undefined) return;
  if (!existing.isDirectory()) {
    throw buildFailure(
      name,
      `output directory ${displayPath(outDir)} exists and is not a directory`,
    );
  }
  const entries = await readdir(outDir);
  if (entries.length > 0 && !entries.includes('manifest.json')) {
    throw buildFailure(
      name,
      `output directory ${displayPath(outDir)} is not empty and holds no manifest.json; ` +
        'refusing to replace what is not an earlier build (remove it or choose another outDir)',
    );
  }
}

/**
 * Writes the build (`bundle.js`, `assets/…`, `manifest.json`) to a
 * temporary directory beside `outDir`, then swaps it in: a failed or killed
 * build leaves an earlier output as it was.
 *
 * @throws BuildError when writing or moving fails.
 */
export async function writeOutput(
  outDir: string,
  code: Uint8Array,
  manifest: Manifest,
  assets: CollectedAsset[],
): Promise<void> {
  const parent = dirname(outDir);
  const tag = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const tmp = join(parent, `.${basename(outDir)}.tmp-${tag}`);
  const old = join(parent, `.${basename(outDir)}.old-${tag}`);
  await mkdir(parent, { recursive: true });
  await removeAbandoned(parent, basename(outDir));
  try {
    await mkdir(tmp);
    await writeFile(join(tmp, 'bundle.js'), code);
    for (const asset of assets) {
      const file = join(tmp, 'assets', ...assetFileSegments(asset.path));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, asset.data);
    }
    await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw buildFailure(
      manifest.name,
      `writing the build failed: ${(error as Error).message}`,
      error,
    );
  }

  let moved = false;
  try {
    await rename(outDir, old);
    moved = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      await rm(tmp, { recursive: true, force: true });
      throw buildFailure(
        manifest.name,
        `could not replace ${displayPath(outDir)}: ${(error as Error).message}`,
        error,
      );
    }
  }
  try {
    await rename(tmp, outDir);
  } catch (error) {
    if (moved) await rename(old, outDir).catch(() => {});
    await rm(tmp, { recursive: true, force: true });
    throw buildFailure(
      manifest.name,
      `could not move the build into ${displayPath(outDir)}: ${(error as Error).message}`,
      error,
    );
  }
  if (moved) await rm(old, { recursive: true, force: true });
}

/** Removes temporary directories that builds killed mid-write left beside `outDir`. */
async function removeAbandoned(parent: string, base: string): Promise<void> {
  const prefix = `.${base}.`;
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(?:tmp|old)-(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length));
    if (match === null || isAlive(Number(match[1]))) continue;
    await rm(join(parent, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
