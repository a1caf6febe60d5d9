import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { ISOLATE_HOST_FLAGS } from './runtime/src/process-flags.ts';

/**
 * Test files that run alone, one at a time, after the rest: the suites that
 * measure limits and load (`.ci/loaded-suites`, which CI also reruns with busy
 * processes), the fault suites (load, overload, drain, neighbours), the ops
 * suites (containers and network namespaces, machine-wide names) and the
 * files that bound a wall time in tens or hundreds of milliseconds.
 */
const ALONE = [
  ...readFileSync(new URL('./.ci/loaded-suites', import.meta.url), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#')),
  'test/fault/**/*.test.ts',
  'test/ops/**/*.test.ts',
  'test/harness/src/netns.test.ts',
  // Wall-time bounds close to the timings they tell apart.
  'autoscaler/src/lease.test.ts',
  'deploy/src/control-plane.test.ts',
  'manifest/src/pattern.test.ts',
  'runtime/src/backend-fetch.test.ts',
  'runtime/src/busy-isolate.test.ts',
  'runtime/src/cpu-time.test.ts',
  'scheduler/src/scheduler.test.ts',
  'shield/src/cache/edge-cache.test.ts',
  'shield/src/front-door/user-agent.test.ts',
  'test/e2e/cache.test.ts',
  'test/integration/purge-nats.test.ts',
];

/**
 * Files run side by side in the shared group: `FLOTILLA_TEST_WORKERS`, by
 * default 2. vitest's own default on a 2-core machine is one (cores - 1);
 * the suite mostly waits on child processes, builds, sockets and the
 * browser, so two keep both cores busy (e2e and integration suites on a
 * busy 2-core machine: 295 s with one, 189 s with two, 147 s with three).
 */
const SHARED_WORKERS = sharedWorkers(process.env.FLOTILLA_TEST_WORKERS);

function sharedWorkers(value: string | undefined): number {
  if (value === undefined || value === '') return 2;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32) {
    throw new Error(`FLOTILLA_TEST_WORKERS must be a whole number from 1 to 32, got "${value}"`);
  }
  return n;
}

/**
 * One id per run, in the workers' environment too: the packaging suites pack
 * the packages once per run under it (test/packaging/packed-once.ts).
 */
process.env.FLOTILLA_TEST_RUN ??= randomUUID();

// isolated-vm aborts at teardown under the `threads` pool: use forks, each
// started with the isolate-host Node flags (tests host isolates in-process).
export default defineConfig({
  test: {
    pool: 'forks',
    exclude: ['**/node_modules/**', '**/dist/**'],
    execArgv: [...ISOLATE_HOST_FLAGS],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { FLOTILLA_TEST_RUN: process.env.FLOTILLA_TEST_RUN },
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/src/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', ...ALONE],
          maxWorkers: SHARED_WORKERS,
          sequence: { groupOrder: 0 },
          // Removes the packaging suites' shared tarballs at the end of the run.
          globalSetup: ['test/packaging/packed-once.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'alone',
          include: ALONE,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
