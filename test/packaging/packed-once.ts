/**
 * The publishable packages packed once per run of the suite: the packaging
 * suites install the same tarballs (`packAll`, as `./run pack` makes them),
 * so the first suite that asks packs them into a directory of the run and
 * the others reuse it. `packAll` rebuilds every package's dist/ in place, so
 * packing holds a lock: a second suite that asks meanwhile (vitest runs
 * files side by side) waits for it, then reads the same tarballs.
 *
 * @module
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PackedPackage, packAll } from '@flotilla/release';
import { waitFor } from '@flotilla/test-harness';

/** The environment variable vitest.config.ts sets to one id per run (in the workers too). */
export const RUN_ID_ENV = 'FLOTILLA_TEST_RUN';

/** How long a suite waits for another one's `packAll` (tsc -b of every package, then pnpm pack). */
const PACK_WAIT_MS = 600_000;

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

/** The tarball list, once the packing suite has written it (its last step). */
async function readList(dir: string): Promise<PackedPackage[] | undefined> {
  const text = await readFile(join(dir, 'packed.json'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as PackedPackage[]);
}

/** Takes the lock (a directory: mkdir is atomic); false when another process holds it. */
async function tryLock(lock: string): Promise<boolean> {
  try {
    await mkdir(lock);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** The tarballs of this run, packed by the first caller. Read-only for the callers. */
export async function packedOnce(): Promise<PackedPackage[]> {
  const dir = packedDir();
  const lock = `${dir}.lock`;
  await mkdir(dir, { recursive: true });
  let packed = await readList(dir);
  while (packed === undefined) {
    if (await tryLock(lock)) {
      try {
        packed = (await readList(dir)) ?? (await pack(dir));
      } finally {
        await rm(lock, { recursive: true, force: true });
      }
    } else {
      // Another suite is packing: its list, or its lock gone (it failed: this one packs).
      await waitFor(async () => (await readList(dir)) !== undefined || !(await exists(lock)), {
        timeoutMs: PACK_WAIT_MS,
        intervalMs: 500,
        message: `another suite held ${lock} for ${PACK_WAIT_MS / 1000} s`,
      });
      packed = await readList(dir);
    }
  }
  return packed;
}

async function pack(dir: string): Promise<PackedPackage[]> {
  const packed = await packAll({ outDir: dir });
  await writeFile(join(dir, 'packed.json'), JSON.stringify(packed));
  return packed;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** vitest's globalSetup: removes the run's tarballs when the run ends. */
export default function setup(): () => Promise<void> {
  return async () => {
    if (!process.env[RUN_ID_ENV]) return;
    await rm(packedDir(), { recursive: true, force: true });
    await rm(`${packedDir()}.lock`, { recursive: true, force: true });
  };
}
