/**
 * SSR throughput: renders per second of the React and Vue examples' listing
 * page `/` in plain Node (the baseline) against the sandbox path a worker
 * process runs (RenderWorker → piscina thread → isolated-vm isolate),
 * measured in the same run on the same machine.
 *
 * Both sides run the same code: a fetch handler around the app's pure
 * `renderRoute('/', PRODUCTS)`, the catalogue compiled into the bundle (see
 * `plain-app.ts`), so the ratio is the isolate's cost for the same render
 * work. Per app, row "c=1": one thread each, one render at a time
 * (per-render cost). Row "c=2": two plain-Node worker threads against a
 * RenderWorker with two piscina threads, two renders in flight. Row
 * "router+api c=1": the app as deployed (its Router loads the catalogue,
 * ~40 KB of JSON, from the products API on every render) against the same
 * Router in plain Node fetching from the same API (a process of its own).
 * Row "loaded": one plain thread against a RenderWorker with one thread
 * kept busy (4 renders in flight, its default tasksPerThread): the thread
 * never waits for the next render, as under load, and the hops of one
 * render overlap the next one's render (the worker's main thread runs on
 * another core).
 * Row "isolate only c=1": the runtime alone, a thread rendering straight
 * into the deployment's isolate (`DeploymentIsolate.render`, limits and
 * result checks included) against plain Node on a thread: the sandbox's
 * own render throughput, without the worker process's transport and
 * piscina hop.
 *
 * Run: node bench/src/run-all.ts ssr-throughput
 * Env: BENCH_SSR_SECONDS (measured seconds per side and row, default 5),
 *      BENCH_SSR_C2=0 to skip the c=2 rows,
 *      BENCH_SSR_ROUTER=0 to skip the router+api rows,
 *      BENCH_SSR_ISOLATE=0 to skip the isolate-only rows,
 *      BENCH_SSR_LOADED=0 to skip the loaded rows,
 *      BENCH_SSR_APPS=react-shop,vue-shop (default: both),
 *      BENCH_SSR_REACT_ROUTER=0 to skip the React Router row (react-router-row.ts; needs the router+api rows' API),
 *      BENCH_SSR_SVELTEKIT=0 to skip the SvelteKit row (sveltekit-row.ts; needs the router+api rows' API),
 *      BENCH_SSR_ANGULAR=0 to skip the Angular row (angular-row.ts; needs the router+api rows' API),
 *      BENCH_SSR_NUXT=0 to skip the Nuxt row (nuxt-row.ts; needs the router+api rows' API),
 *      BENCH_SSR_NEXT=0 to skip the Next.js row (next-row.ts; needs the router+api rows' API).
 *
 * @module
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { assertIsolateHostProcess } from '@flotilla/runtime';
import { angularRow, printAngularRow } from './angular-row.ts';
import { benchTempDir, hardTimeout, runBench } from './bench-process.ts';
import { nextRow, printNextRow } from './next-row.ts';
import { nuxtRow, printNuxtRow } from './nuxt-row.ts';
import { type BenchApp, bundlePlainApp, pageUrl } from './plain-app.ts';
import { type ProductsApiProcess, startProductsApiProcess } from './products-api-process.ts';
import { printReactRouterRow, reactRouterRow } from './react-router-row.ts';
import { bundleMemoryApp, readBuiltBundle, writeDeployment } from './sandbox-app.ts';
import type { AppResult } from './ssr-figures.ts';
import { printApp, printIntro, printSummary } from './ssr-report.ts';
import { measureIsolateRow, measureRow, type RowOptions } from './ssr-rows.ts';
import {
  APPS,
  LOADED_IN_FLIGHT,
  SECONDS,
  SLICES,
  WARMUP,
  WITH_C2,
  WITH_ISOLATE,
  WITH_LOADED,
  WITH_ROUTER,
} from './ssr-settings.ts';
import { printResult, round } from './stats.ts';
import { printSvelteKitRow, svelteKitRow } from './sveltekit-row.ts';

/**
 * Measures one app: the `memory` entry (renderRoute over the catalogue in
 * the bundle) plain and sandboxed at c=1, loaded, isolate only, then (unless
 * skipped) at c=2, then (unless skipped) the app's Router with the products
 * API at c=1.
 */
async function benchApp(
  app: BenchApp,
  dir: string,
  apiUrl: string | undefined,
): Promise<AppResult> {
  const url = pageUrl(app);
  // The app as `flotilla build` builds it: its asset map for both sides, its bundle for router+api.
  const built = await app.build({ outDir: join(dir, app.name, 'build') });
  const deploymentsDir = join(dir, 'deployments');
  // Both sides: renderRoute over the catalogue compiled in, the same handler around it.
  const memory = await bundleMemoryApp(app, built.manifest);
  const memoryId = `${app.name}-memory`;
  await writeDeployment(deploymentsDir, memoryId, app.name, memory, {});
  const memoryModule = await bundlePlainApp(dir, app, 'memory', built.manifest);
  /** A row of the `memory` entry; `threads` plain threads against a RenderWorker with as many. */
  const memoryRow = (threads: number, more: Partial<RowOptions> = {}) =>
    measureRow({
      app,
      deploymentsDir,
      deploymentId: memoryId,
      modulePath: memoryModule,
      threads,
      ...more,
    });

  // c=1: plain Node on one thread, against a RenderWorker with 1 thread, 1 task per thread.
  const one = await memoryRow(1);
  // loaded: one plain thread against one RenderWorker thread that always has the next render queued.
  const loaded = WITH_LOADED
    ? (await memoryRow(1, { inFlightPerThread: LOADED_IN_FLIGHT })).row
    : undefined;
  // isolate only c=1: the runtime alone against plain Node, one thread each.
  const isolate = WITH_ISOLATE ? await measureIsolateRow(app, memory, memoryModule) : undefined;
  // c=2: two plain-Node worker threads against a RenderWorker with 2 threads.
  const two = WITH_C2 ? await memoryRow(2) : undefined;

  // router+api c=1: the deployed bundle (Router, backend fetch) against the same Router in plain Node.
  let router: AppResult['router'];
  if (apiUrl !== undefined) {
    const bundle = await readBuiltBundle(built.bundlePath, built.manifest);
    const routerId = `${app.name}-router`;
    const backends = { api: apiUrl };
    await writeDeployment(deploymentsDir, routerId, app.name, bundle, backends);
    const r = await measureRow({
      app,
      deploymentsDir,
      deploymentId: routerId,
      modulePath: await bundlePlainApp(dir, app, 'router', built.manifest),
      threads: 1,
      backends,
    });
    router = {
      ...r.row,
      bundleBytes: bundle.bundleBytes,
      sameHtml: r.plainHtml === r.sandboxHtml,
      sameHtmlAsMemory: r.plainHtml === one.plainHtml,
    };
  }
  return {
    app: app.name,
    page: url,
    bundleBytes: memory.bundleBytes,
    htmlChars: one.plainHtml.length,
    sameHtml:
      one.plainHtml === one.sandboxHtml &&
      (router?.sameHtml ?? true) &&
      (isolate?.sameHtml ?? true),
    c1: one.row,
    ...(loaded ? { loaded } : {}),
    ...(isolate ? { isolate } : {}),
    ...(two ? { c2: two.row } : {}),
    ...(router ? { router } : {}),
  };
}

/** Runs the bench, prints its tables and the RESULT line, and returns the figures. */
export async function main(): Promise<Record<string, unknown>> {
  for (const w of assertIsolateHostProcess()) process.stderr.write(`warning: ${w}\n`);
  // The React Router, SvelteKit, Angular and Nuxt rows each run their framework's own build first.
  hardTimeout('ssr-throughput', 460_000);
  const dir = await benchTempDir('ssr');
  let api: ProductsApiProcess | undefined;
  try {
    if (WITH_ROUTER) api = await startProductsApiProcess();
    const loadBefore = loadavg()[0] ?? 0;
    printIntro(APPS, api?.url);
    const results: AppResult[] = [];
    for (const app of APPS) {
      const r = await benchApp(app, dir.path, api?.url);
      results.push(r);
      printApp(app, r);
    }
    const rr =
      api && process.env.BENCH_SSR_REACT_ROUTER !== '0'
        ? await reactRouterRow({ apiUrl: api.url, seconds: SECONDS, slices: SLICES })
        : undefined;
    if (rr) printReactRouterRow(rr);
    const sk =
      api && process.env.BENCH_SSR_SVELTEKIT !== '0'
        ? await svelteKitRow({ apiUrl: api.url, seconds: SECONDS, slices: SLICES })
        : undefined;
    if (sk) printSvelteKitRow(sk);
    const ng =
      api && process.env.BENCH_SSR_ANGULAR !== '0'
        ? await angularRow({ apiUrl: api.url, seconds: SECONDS, slices: SLICES })
        : undefined;
    if (ng) printAngularRow(ng);
    const nuxt =
      api && process.env.BENCH_SSR_NUXT !== '0'
        ? await nuxtRow({ apiUrl: api.url, seconds: SECONDS, slices: SLICES })
        : undefined;
    if (nuxt) printNuxtRow(nuxt);
    const next =
      api && process.env.BENCH_SSR_NEXT !== '0'
        ? await nextRow({ apiUrl: api.url, seconds: SECONDS, slices: SLICES })
        : undefined;
    if (next) printNextRow(next);
    const loadAfter = loadavg()[0] ?? 0;
    console.log('');
    // Other processes on the machine skew both sides, the sandbox's threads more.
    console.log(
      `1-min load average ${round(loadBefore, 2)} before, ${round(loadAfter, 2)} after (a busy machine lowers the ratios)`,
    );
    printSummary(APPS, results);
    const apps = Object.fromEntries(results.map((r) => [r.app, r]));
    const result = {
      bench: 'ssr-throughput',
      page: '/',
      // c1/c2: renderRoute over the catalogue in the bundle, both sides; router: the deployed Router + products API.
      renderedFrom: { c1: 'memory', c2: 'memory', router: 'products-api' },
      seconds: SECONDS,
      slices: SLICES,
      warmup: WARMUP,
      loadavg: { before: round(loadBefore, 2), after: round(loadAfter, 2) },
      sameHtml: results.every((r) => r.sameHtml),
      apps,
      ...(rr ? { reactRouter: rr } : {}),
      ...(sk ? { sveltekit: sk } : {}),
      ...(ng ? { angular: ng } : {}),
      ...(nuxt ? { nuxt } : {}),
      ...(next ? { next } : {}),
      // The c=1 ratio of the app furthest from plain Node (the target is ≥ 0.95 for each).
      ratio: Math.min(...results.map((r) => r.c1.ratio)),
      ...(WITH_LOADED
        ? { loadedRatio: Math.min(...results.map((r) => r.loaded?.ratio ?? Number.NaN)) }
        : {}),
      // The same for the runtime alone (isolate only rows), when run.
      ...(WITH_ISOLATE
        ? { isolateRatio: Math.min(...results.map((r) => r.isolate?.ratio ?? Number.NaN)) }
        : {}),
    };
    printResult(result);
    return result;
  } finally {
    await api?.child.kill('SIGTERM');
    await dir.remove();
  }
}

if (import.meta.main) await runBench('ssr-throughput', main);
