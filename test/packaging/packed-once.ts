/**
 * The publishable packages packed once per run of the suite: the packaging
 * suites install the same tarballs (`packAll`, as `./run pack` makes them),
 * so the first suite that asks packs them into a directory of the run and
 * the others reuse it. `packAll` rebuilds every package's dist/ in place,
 * which is why these suites run one at a time (vitest.config.ts, `ALONE`).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type PackedPackage, packAll } from '@flotilla/release';

/** The environment variable vitest.config.ts sets to one id per run (in the workers too). */
export const RUN_ID_ENV = 'FLOTILLA_TEST_RUN';

/** The directory of this run's tarballs. */
export function packedDir(): string {
  const run = process.env[RUN_ID_ENV];
  if (!run || !/^[0-9a-f-]{8,}$/.test(run)) {
    throw new Error(
      `${RUN_ID_ENV} is not set: run the packaging suites with vitest (vitest.config.ts sets it)`,
    );
  }
  return join(tmpdir(), `flotilla-packed-${run}`);
}

const LIST = 'packed.json';

/** The tarballs of this run, packed by the first caller. Read-only for the callers. */
export async function packedOnce(): Promise<PackedPackage[]> {
  const dir = packedDir();
  const done = await readFile(join(dir, LIST), 'utf8').catch(() => undefined);
  if (done !== undefined) return JSON.parse(done) as PackedPackage[];
  // Packed beside it and renamed in one step, so a reader sees all tarballs or none.
  const partial = `${dir}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(partial, { recursive: true });
  try {
    const packed = await packAll({ outDir: partial });
    const moved = packed.map((p) => ({ ...p, tarball: join(dir, basename(p.tarball)) }));
    await writeFile(join(partial, LIST), JSON.stringify(moved));
    await rename(partial, dir);
    return moved;
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    // Another process of the run finished first: its tarballs are the same packages.
    const other = await readFile(join(dir, LIST), 'utf8').catch(() => undefined);
    if (other !== undefined) return JSON.parse(other) as PackedPackage[];
    throw err;
  }
}

/** vitest's globalSetup: removes the run's tarballs when the run ends. */
export default function setup(): () => Promise<void> {
  return async () => {
    if (process.env[RUN_ID_ENV]) await rm(packedDir(), { recursive: true, force: true });
  };
}
