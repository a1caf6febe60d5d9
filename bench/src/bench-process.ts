/**
 * The life of one bench process: a hard time bound, a temp dir that goes
 * away also when the process ends early, and the entry point that turns a
 * failure into a message and exit code 1.
 *
 * @module
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Ends the process with exit code 1 if it is still running after `ms`
 * (a bench must be bounded). The timer does not keep the process alive.
 * Children started through the test harness are SIGKILLed on exit.
 */
export function hardTimeout(name: string, ms: number): void {
  setTimeout(() => {
    process.stderr.write(`${name}: still running after ${ms} ms, giving up\n`);
    process.exit(1);
  }, ms).unref();
}

/** A bench's temp dir, from {@link benchTempDir}. */
export interface BenchTempDir {
  path: string;
  /** Removes the dir (and forgets the exit hook). */
  remove(): Promise<void>;
}

/**
 * Creates `<tmpdir>/flotilla-bench-<name>-XXXXXX`, removed by
 * {@link BenchTempDir.remove} or, failing that, when the process exits
 * (also when {@link hardTimeout} ends it).
 */
export async function benchTempDir(name: string): Promise<BenchTempDir> {
  const path = await mkdtemp(join(tmpdir(), `flotilla-bench-${name}-`));
  const removeAtExit = () => rmSync(path, { recursive: true, force: true });
  process.once('exit', removeAtExit);
  return {
    path,
    remove: async () => {
      process.off('exit', removeAtExit);
      await rm(path, { recursive: true, force: true });
    },
  };
}

/**
 * Runs a bench's `main` as the process's entry point: a failure prints
 * `<name> failed: <stack>` and sets exit code 1.
 *
 * @example
 * if (import.meta.main) await runBench('miss-path', main);
 */
export async function runBench(name: string, main: () => Promise<unknown>): Promise<void> {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`${name} failed: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  }
}
