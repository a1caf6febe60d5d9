/**
 * Runs every bench in sequence, each in its own Node process (so one bench's
 * heap, threads and sockets cannot skew the next), with the isolate-host
 * flags, and a time bound per bench. Exits non-zero if any bench fails.
 *
 * Run: node --no-node-snapshot --max-semi-space-size=16 --initial-old-space-size=64 bench/src/run-all.ts
 *      (`pnpm bench` at the root, or `pnpm --filter @flotilla/bench bench`)
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES: Array<{ name: string; file: string; timeoutMs: number; flags?: string[] }> = [
  { name: 'ssr-throughput', file: './ssr-throughput.ts', timeoutMs: 160_000 },
  { name: 'isolate-cost', file: './isolate-cost.ts', timeoutMs: 120_000, flags: ['--expose-gc'] },
  { name: 'miss-path', file: './miss-path.ts', timeoutMs: 150_000 },
  { name: 'shield-cache', file: './shield-cache.ts', timeoutMs: 120_000 },
];
const FLAGS = ['--no-node-snapshot', '--max-semi-space-size=16', '--initial-old-space-size=64'];

function runOne(bench: (typeof BENCHES)[number]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...FLAGS, ...(bench.flags ?? []), fileURLToPath(new URL(bench.file, import.meta.url))],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    // Each bench bounds itself; this is the backstop. SIGTERM lets its
    // harness reaper kill the processes it started; SIGKILL 5 s later.
    const timer = setTimeout(() => {
      process.stderr.write(`run-all: ${bench.name} exceeded ${bench.timeoutMs} ms, stopping it\n`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, bench.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      process.stderr.write(`run-all: cannot start ${bench.name}: ${err.message}\n`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

const started = performance.now();
const failed: string[] = [];
for (const bench of BENCHES) {
  process.stdout.write(`\n=== ${bench.name} ===\n`);
  const benchStarted = performance.now();
  const code = await runOne(bench);
  const benchSeconds = ((performance.now() - benchStarted) / 1000).toFixed(1);
  process.stdout.write(
    `run-all: ${bench.name} ${code === 0 ? 'passed' : `failed (exit ${code})`} in ${benchSeconds} s\n`,
  );
  if (code !== 0) failed.push(`${bench.name} (exit ${code})`);
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(
  `\nrun-all: ${BENCHES.length - failed.length}/${BENCHES.length} benches passed in ${seconds} s${failed.length ? `; failed: ${failed.join(', ')}` : ''}\n`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
