import { defineConfig } from 'vitest/config';
import { ISOLATE_HOST_FLAGS } from './runtime/src/process-flags.ts';

// isolated-vm aborts at teardown under the `threads` pool: use forks, each
// started with the isolate-host Node flags (tests host isolates in-process).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/src/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    execArgv: [...ISOLATE_HOST_FLAGS],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
