/**
 * Runs every bench in sequence (or only those named), each in its own Node
 * process (so one bench's heap, threads and sockets cannot skew the next),
 * with the isolate-host flags, and a time bound per bench. Exits non-zero if
 * any bench fails.
 *
 * Run: node bench/src/run-all.ts [ssr-throughput|isolate-cost|miss-path|shield-cache|cache-tiers|cache-memory|output-bomb|neighbours|async-context|overload|stream-ttfb]…
 *      (`pnpm bench` at the root, or `pnpm --filter @flotilla/bench bench`)
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ISOLATE_HOST_FLAGS } from '@flotilla/runtime/process-flags';

const BENCHES: Array<{ name: string; file: string; timeoutMs: number; flags?: string[] }> = [
  { name: 'ssr-throughput', file: './ssr-throughput.ts', timeoutMs: 480_000 },
  { name: 'isolate-cost', file: './isolate-cost.ts', timeoutMs: 120_000, flags: ['--expose-gc'] },
  { name: 'miss-path', file: './miss-path.ts', timeoutMs: 150_000 },
  { name: 'shield-cache', file: './shield-cache.ts', timeoutMs: 120_000 },
  { name: 'cache-tiers', file: './cache-tiers.ts', timeoutMs: 420_000 },
  { name: 'cache-memory', file: './cache-memory.ts', timeoutMs: 180_000, flags: ['--expose-gc'] },
  { name: 'output-bomb', file: './output-bomb.ts', timeoutMs: 180_000 },
  { name: 'neighbours', file: './neighbours.ts', timeoutMs: 620_000 },
  { name: 'overload', file: './overload.ts', timeoutMs: 320_000 },
  { name: 'async-context', file: './async-context.ts', timeoutMs: 180_000, flags: ['--expose-gc'] },
  { name: 'stream-ttfb', file: './stream-ttfb.ts', timeoutMs: 180_000 },
];
const FLAGS = ISOLATE_HOST_FLAGS;

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

const named = process.argv.slice(2);
const unknown = named.filter((n) => !BENCHES.some((b) => b.name === n));
if (unknown.length > 0) {
  process.stderr.write(
    `run-all: unknown bench ${unknown.join(', ')} (benches: ${BENCHES.map((b) => b.name).join(', ')})\n`,
  );
  process.exit(2);
}
const selected = named.length === 0 ? BENCHES : BENCHES.filter((b) => named.includes(b.name));
const started = performance.now();
const failed: string[] = [];
for (const bench of selected) {
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
  `\nrun-all: ${selected.length - failed.length}/${selected.length} benches passed in ${seconds} s${failed.length ? `; failed: ${failed.join(', ')}` : ''}\n`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
