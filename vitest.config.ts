import { defineConfig } from 'vitest/config';

// isolated-vm aborts at teardown under the `threads` pool (RUNTIME-NOTES.md): use forks.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/src/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    execArgv: ['--no-node-snapshot', '--max-semi-space-size=16', '--initial-old-space-size=64'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
