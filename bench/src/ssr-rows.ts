/**
 * One row of the ssr-throughput bench: the plain-Node side and the sandbox
 * (or isolate) side of the same render, started, warmed, and measured in
 * alternating slices.
 *
 * @module
 */

import { drive } from './load-loop.ts';
import { LoopThreads } from './loop-threads.ts';
import { type BenchApp, pageUrl } from './plain-app.ts';
import type { SandboxBundle } from './sandbox-app.ts';
import { type IsolateRow, isolateRow, merge, type Row, type Run, row } from './ssr-figures.ts';
import { SandboxSide } from './ssr-sandbox.ts';
import { SECONDS, SLICES, WARMUP } from './ssr-settings.ts';
import { now } from './stats.ts';

/** `run(ms)`, with the CPU time every thread of this process spent meanwhile. */
async function withCpu(run: (ms: number) => Promise<Run>, ms: number): Promise<Run> {
  const before = process.cpuUsage();
  const r = await run(ms);
  const used = process.cpuUsage(before);
  return { ...r, cpuMs: (used.user + used.system) / 1000 };
}

/**
 * Measures both sides of a row in {@link SLICES} alternating slices each
 * (plain, sandbox, sandbox, plain, …), so that other load on the machine
 * weighs on both alike; returns each side's slices merged.
 */
async function interleave(
  plain: (ms: number) => Promise<Run>,
  sandbox: (ms: number) => Promise<Run>,
): Promise<{ plain: Run; sandbox: Run }> {
  const ms = (SECONDS * 1000) / SLICES;
  const p: Run[] = [];
  const s: Run[] = [];
  for (let i = 0; i < SLICES; i++) {
    if (i % 2 === 0) {
      p.push(await withCpu(plain, ms));
      s.push(await withCpu(sandbox, ms));
    } else {
      s.push(await withCpu(sandbox, ms));
      p.push(await withCpu(plain, ms));
    }
  }
  return { plain: merge(p), sandbox: merge(s) };
}

/** `concurrency` renders of `sandbox` in flight for `durationMs`, each timed. */
async function sandboxRun(
  sandbox: SandboxSide,
  concurrency: number,
  durationMs: number,
): Promise<Run> {
  const { results, elapsedMs } = await drive({ concurrency, durationMs }, async () => {
    const t = now();
    const { stages } = await sandbox.render();
    return { ms: now() - t, stages };
  });
  return {
    count: results.length,
    elapsedMs,
    latencies: results.map((r) => r.ms),
    stages: results.map((r) => r.stages),
  };
}

/** Row "isolate only": plain Node on a thread against a thread rendering straight into the isolate. */
export async function measureIsolateRow(
  app: BenchApp,
  bundle: SandboxBundle,
  modulePath: string,
): Promise<IsolateRow> {
  const plain = await LoopThreads.plain(modulePath, pageUrl(app), 1, WARMUP);
  try {
    const isolate = await LoopThreads.isolate(bundle, pageUrl(app), WARMUP);
    try {
      const r = await interleave(
        (ms) => plain.run(ms),
        (ms) => isolate.run(ms),
      );
      return isolateRow(r.plain, r.sandbox, plain.html === isolate.html);
    } finally {
      await isolate.stop();
    }
  } finally {
    await plain.stop();
  }
}

/** Options of {@link measureRow}. */
export interface RowOptions {
  app: BenchApp;
  /** Root of the deployments the sandbox reads. */
  deploymentsDir: string;
  deploymentId: string;
  /** The plain side's module (`bundlePlainApp`). */
  modulePath: string;
  threads: number;
  /**
   * Sandbox renders in flight per thread (the RenderWorker's
   * `tasksPerThread`, and the client keeps that many per thread going).
   * 1: one at a time, every hop on the critical path; more: the thread
   * always has the next render queued, as under load.
   * @default 1
   */
  inFlightPerThread?: number;
  /** Origins of the backends the plain module fetches, if it fetches any. */
  backends?: Record<string, string>;
}

/** One row: `threads` plain-Node threads against a RenderWorker with `threads` threads. */
export async function measureRow(
  options: RowOptions,
): Promise<{ row: Row; plainHtml: string; sandboxHtml: string }> {
  const { app, threads } = options;
  const plain = await LoopThreads.plain(
    options.modulePath,
    pageUrl(app),
    threads,
    WARMUP,
    options.backends,
  );
  try {
    const perThread = options.inFlightPerThread ?? 1;
    const sandbox = await SandboxSide.start({
      bundlesDir: options.deploymentsDir,
      deploymentId: options.deploymentId,
      app,
      threads,
      tasksPerThread: perThread,
      warmup: WARMUP,
    });
    try {
      const sandboxHtml = (await sandbox.render()).html;
      const r = await interleave(
        (ms) => plain.run(ms),
        (ms) => sandboxRun(sandbox, threads * perThread, ms),
      );
      return { row: row(r.plain, r.sandbox), plainHtml: plain.html, sandboxHtml };
    } finally {
      await sandbox.stop();
    }
  } finally {
    await plain.stop();
  }
}
