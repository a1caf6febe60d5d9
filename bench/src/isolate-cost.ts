/**
 * What an isolate costs, for the React and Vue examples' listing page `/`
 * rendered from the catalogue compiled into the bundle (the same bundle as
 * rows c=1/c=2 of `ssr-throughput`: a handler around the app's
 * `renderRoute('/', PRODUCTS)`, built as `flotilla build` builds; no backend
 * fetch, so the figures are the isolate's and the render's alone):
 * - a new deployment's cold first response (isolate + prelude + compile +
 *   first render, empty compile cache) against a warm render of the same page,
 *   and the cold start of a deployment whose code this thread compiled before;
 * - the first response of an isolate started from the deployment's startup
 *   snapshot (`SnapshotCache`, warmed up with `/`, asked for directly), and
 *   the time the worker takes to make that snapshot (in the background, once
 *   the deployment has loaded fresh twice on a thread);
 * - RSS per warm isolate: N warm isolates of one bundle in one process, RSS
 *   growth divided by N (after GC).
 *
 * Run: node bench/src/run-all.ts isolate-cost
 *
 * @module
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CompileCache,
  DeploymentIsolate,
  type DeploymentSnapshot,
  type SandboxRequest,
  SnapshotCache,
} from '@flotilla/runtime';
import { benchTempDir, hardTimeout, runBench } from './bench-process.ts';
import { type BenchApp, REACT_SHOP, VUE_SHOP } from './plain-app.ts';
import { bundleMemoryApp, type SandboxBundle } from './sandbox-app.ts';
import { p50p99, printResult, round, table } from './stats.ts';

const COLD_SAMPLES = 15;
const WARM_RENDERS = 300;
const ISOLATES_FOR_RSS = 16;

const request: SandboxRequest = {
  method: 'GET',
  url: 'http://shop.localhost/',
  headers: [['accept', 'text/html']],
  body: null,
};

interface AppCost {
  app: string;
  bundleBytes: number;
  coldFirstMs: { p50: number; p99: number };
  coldCachedMs: { p50: number; p99: number };
  coldSnapshotMs: { p50: number; p99: number };
  snapshotMakeMs: number;
  snapshotBytes: number;
  warmMs: { p50: number; p99: number };
  coldOverWarm: number;
  snapshotOverWarm: number;
  rssPerIsolateMb: number;
}

/** Collects garbage (with `--expose-gc`) and lets the process settle, before RSS is read. */
async function gcAndSettle(): Promise<void> {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect) {
    collect();
    collect();
  }
  await delay(100);
}

async function coldFirst(
  code: string,
  hash: string,
  cache: CompileCache,
  snapshot?: DeploymentSnapshot,
): Promise<number> {
  const started = performance.now();
  const iso = await DeploymentIsolate.load({
    deploymentId: 'cold',
    code,
    bundleHash: hash,
    compileCache: cache,
    ...(snapshot ? { snapshot } : {}),
  });
  if (snapshot && !iso.fromSnapshot) throw new Error('the isolate did not start from the snapshot');
  const res = await iso.render(request);
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`cold render answered ${res.status}`);
  iso.dispose();
  return ms;
}

async function measure(app: string, bundle: SandboxBundle): Promise<AppCost> {
  const { code, bundleHash: hash } = bundle;
  // The deployment's snapshot (made once, in a child process, as a worker thread does).
  const snapshots = new SnapshotCache();
  const makeStarted = performance.now();
  const made = await snapshots.request({
    deploymentId: 'cold',
    bundleHash: hash,
    code,
    warmupPaths: ['/'],
    heapMb: 128,
  });
  const snapshotMakeMs = performance.now() - makeStarted;
  const snapshot = snapshots.get('cold', hash);
  if (!made || !snapshot) throw new Error(`no snapshot of ${app}`);
  // The three kinds of cold start taken in turn, so that a busy machine's
  // load swings fall on all three alike:
  // - a new deployment: nothing compiled in this process before;
  // - a deployment this thread compiled before (compile cache hit): e.g. recycled;
  // - an isolate started from the deployment's snapshot.
  const shared = new CompileCache();
  await coldFirst(code, hash, shared);
  const cold: number[] = [];
  const cached: number[] = [];
  const fromSnapshot: number[] = [];
  for (let i = 0; i < COLD_SAMPLES; i++) {
    cold.push(await coldFirst(code, `${hash}-${i}`, new CompileCache()));
    cached.push(await coldFirst(code, hash, shared));
    fromSnapshot.push(await coldFirst(code, hash, new CompileCache(), snapshot));
  }
  const snapshotBytes = snapshot.bytes;
  snapshots.close();
  // Warm renders of the same page.
  const iso = await DeploymentIsolate.load({ deploymentId: 'warm', code, bundleHash: hash });
  for (let i = 0; i < 100; i++) await iso.render(request);
  const warm: number[] = [];
  for (let i = 0; i < WARM_RENDERS; i++) {
    const t = performance.now();
    await iso.render(request);
    warm.push(performance.now() - t);
  }
  iso.dispose();
  // RSS per warm isolate.
  await gcAndSettle();
  const rssBefore = process.memoryUsage().rss;
  const isolates: DeploymentIsolate[] = [];
  const cache = new CompileCache();
  for (let i = 0; i < ISOLATES_FOR_RSS; i++) {
    const one = await DeploymentIsolate.load({
      deploymentId: `rss-${i}`,
      code,
      bundleHash: hash,
      compileCache: cache,
    });
    for (let r = 0; r < 20; r++) await one.render(request);
    isolates.push(one);
  }
  await gcAndSettle();
  const rssPerIsolateMb = (process.memoryUsage().rss - rssBefore) / ISOLATES_FOR_RSS / 1024 / 1024;
  for (const one of isolates) one.dispose();
  const coldFirstMs = p50p99(cold);
  const coldSnapshotMs = p50p99(fromSnapshot);
  const warmMs = p50p99(warm);
  return {
    app,
    bundleBytes: Buffer.byteLength(code),
    coldFirstMs,
    coldCachedMs: p50p99(cached),
    coldSnapshotMs,
    snapshotMakeMs: round(snapshotMakeMs, 0),
    snapshotBytes,
    warmMs,
    coldOverWarm: round(coldFirstMs.p50 / warmMs.p50, 1),
    snapshotOverWarm: round(coldSnapshotMs.p50 / warmMs.p50, 1),
    rssPerIsolateMb: round(rssPerIsolateMb, 1),
  };
}

/** The app's bundle rendering from the catalogue compiled in (its build supplies the asset map). */
async function memoryBundle(app: BenchApp, dir: string): Promise<SandboxBundle> {
  const built = await app.build({ outDir: join(dir, app.name) });
  return bundleMemoryApp(app, built.manifest);
}

export async function main(): Promise<AppCost[]> {
  hardTimeout('isolate-cost', 110_000);
  const dir = await benchTempDir('isolate');
  try {
    const results: AppCost[] = [];
    for (const app of [REACT_SHOP, VUE_SHOP]) {
      results.push(await measure(app.name, await memoryBundle(app, dir.path)));
    }
    const gcNote = (globalThis as { gc?: unknown }).gc ? '' : ' (no --expose-gc: RSS is noisier)';
    process.stdout.write(
      `isolate-cost: listing page "/" rendered from the catalogue in the bundle (no backend fetch), ${COLD_SAMPLES} cold starts, ${WARM_RENDERS} warm renders, ${ISOLATES_FOR_RSS} isolates for RSS${gcNote}\n\n`,
    );
    process.stdout.write(
      `${table([
        [
          'app',
          'bundle KiB',
          'cold new p50',
          'cold cached p50',
          'from snapshot p50',
          'warm p50',
          'cold/warm',
          'snapshot/warm',
          'snapshot made ms',
          'snapshot KiB',
          'RSS/isolate MB',
        ],
        ...results.map((r) => [
          r.app,
          round(r.bundleBytes / 1024, 1),
          r.coldFirstMs.p50,
          r.coldCachedMs.p50,
          r.coldSnapshotMs.p50,
          r.warmMs.p50,
          `${r.coldOverWarm}×`,
          `${r.snapshotOverWarm}×`,
          r.snapshotMakeMs,
          round(r.snapshotBytes / 1024, 0),
          r.rssPerIsolateMb,
        ]),
      ])}\n\n`,
    );
    for (const r of results) {
      process.stdout.write(
        `summary: ${r.app} new deployment's first response ${r.coldFirstMs.p50} ms (compile cache hit ${r.coldCachedMs.p50} ms; from its snapshot ${r.coldSnapshotMs.p50} ms, made in ${r.snapshotMakeMs} ms) vs warm ${r.warmMs.p50} ms = ${r.coldOverWarm}× (from the snapshot ${r.snapshotOverWarm}×); ${r.rssPerIsolateMb} MB RSS per warm isolate\n`,
      );
    }
    printResult({ bench: 'isolate-cost', results });
    return results;
  } finally {
    await dir.remove();
  }
}

if (import.meta.main) await runBench('isolate-cost', main);
