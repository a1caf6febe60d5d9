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
 *      BENCH_SSR_REACT_ROUTER=0 to skip the React Router row (react-router-row.ts; needs the router+api rows' API).
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  decodeRenderResult,
  encodeRenderRequest,
  nextTraceparent,
  regionSubjects,
} from '@flotilla/protocol';
import { assertIsolateHostProcess } from '@flotilla/runtime';
import { InProcessTransport } from '@flotilla/transport';
import { DirectoryBundleStore, RenderWorker } from '@flotilla/workers';
import { type BenchApp, bundlePlainApp, REACT_SHOP, VUE_SHOP } from './plain-app.ts';
import { printReactRouterRow, reactRouterRow } from './react-router-row.ts';
import {
  bundleMemoryApp,
  readBuiltBundle,
  type SandboxBundle,
  writeDeployment,
} from './sandbox-app.ts';
import { hardTimeout, mean, now, p50p99, printResult, round, table } from './stats.ts';

const SECONDS = Number(process.env.BENCH_SSR_SECONDS) || 5;
const WITH_C2 = process.env.BENCH_SSR_C2 !== '0';
const WITH_ROUTER = process.env.BENCH_SSR_ROUTER !== '0';
const WITH_ISOLATE = process.env.BENCH_SSR_ISOLATE !== '0';
const WITH_LOADED = process.env.BENCH_SSR_LOADED !== '0';
/** Renders the sandbox keeps in flight on its one thread in row "loaded" (RenderWorker's default tasksPerThread). */
const LOADED_IN_FLIGHT = 4;
const WARMUP = 300;
/** Slices each side's measured time is cut into, alternating with the other side's. */
const SLICES = 6;
const APPS = [REACT_SHOP, VUE_SHOP].filter(
  (app) => !process.env.BENCH_SSR_APPS || process.env.BENCH_SSR_APPS.split(',').includes(app.name),
);
const REGION = 'bench';
const pageUrl = (app: BenchApp) => `http://${app.name}.localhost/`;
const decoder = new TextDecoder();

/** Stage timings of one sandbox render, as the worker reports them. */
interface Stages {
  render: number;
  worker: number;
}

interface Run {
  count: number;
  elapsedMs: number;
  /** CPU time of the whole process (every thread) while the run went on, ms. */
  cpuMs?: number;
  latencies: number[];
  stages: Stages[];
}

/** Runs `concurrency` loops of `once` until `durationMs` has passed. */
async function loop(
  concurrency: number,
  durationMs: number,
  once: () => Promise<Stages | undefined>,
): Promise<Run> {
  const latencies: number[] = [];
  const stages: Stages[] = [];
  const started = now();
  const until = started + durationMs;
  const lanes = Array.from({ length: concurrency }, async () => {
    while (now() < until) {
      const t = now();
      const s = await once();
      latencies.push(now() - t);
      if (s) stages.push(s);
    }
  });
  await Promise.all(lanes);
  return { count: latencies.length, elapsedMs: now() - started, latencies, stages };
}

/** Renders `/` through a RenderWorker over an in-process transport. */
class SandboxClient {
  readonly #transport: InProcessTransport;
  readonly #subject: string;
  readonly #deploymentId: string;
  readonly #app: BenchApp;

  constructor(
    transport: InProcessTransport,
    workerId: string,
    deploymentId: string,
    app: BenchApp,
  ) {
    this.#transport = transport;
    this.#subject = regionSubjects(REGION).workerRender(workerId);
    this.#deploymentId = deploymentId;
    this.#app = app;
  }

  async render(): Promise<{ html: string; stages: Stages }> {
    const message = encodeRenderRequest({
      deploymentId: this.#deploymentId,
      method: 'GET',
      url: pageUrl(this.#app),
      headers: [['host', `${this.#app.name}.localhost`]],
      body: new Uint8Array(0),
      deadline: Date.now() + 10_000,
      traceparent: nextTraceparent(),
      requestId: randomUUID(),
      attempt: 1,
    });
    const reply = await this.#transport.request(this.#subject, message, { timeoutMs: 10_000 });
    const result = decodeRenderResult(reply);
    if (!result.ok)
      throw new Error(`sandbox render failed: ${result.error.code} ${result.error.message}`);
    if (result.status !== 200) throw new Error(`sandbox render: status ${result.status}`);
    return {
      html: decoder.decode(result.body),
      stages: {
        render: result.timings.render ?? Number.NaN,
        worker: result.timings.worker ?? Number.NaN,
      },
    };
  }
}

/** Starts a RenderWorker with `threads` threads, `tasksPerThread` tasks each, and warms every thread. */
async function startSandbox(
  bundlesDir: string,
  deploymentId: string,
  app: BenchApp,
  threads: number,
  tasksPerThread: number,
): Promise<{ worker: RenderWorker; transport: InProcessTransport; client: SandboxClient }> {
  const transport = new InProcessTransport();
  const worker = new RenderWorker({
    transport,
    region: REGION,
    bundles: new DirectoryBundleStore(bundlesDir),
    workerId: `bench-${app.name}-${threads}t`,
    threads,
    tasksPerThread,
  });
  await worker.start();
  const client = new SandboxClient(transport, worker.workerId, deploymentId, app);
  // Warm-up: every thread gets ≥ WARMUP renders (cold isolate, then JIT).
  await loopCount(threads, WARMUP * threads, () => client.render());
  return { worker, transport, client };
}

async function loopCount(concurrency: number, total: number, once: () => Promise<unknown>) {
  let left = total;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await once();
    }),
  );
}

async function stopSandbox(s: { worker: RenderWorker; transport: InProcessTransport }) {
  await s.worker.drain();
  await s.transport.drain();
}

/**
 * Worker threads each rendering in its own loop when asked: plain Node
 * (`plain-thread.ts`) or straight into an isolate (`isolate-thread.ts`).
 * Fresh threads per app: an app's baseline never runs in a heap another
 * app's renders filled (plain Vue on the main thread after plain React
 * renders half as fast, with 10 ms p99s).
 */
class LoopThreads {
  readonly #workers: Worker[];
  /** The page as the first thread rendered it. */
  html = '';

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /**
   * Plain Node: `modulePath`'s handler on `threads` threads.
   *
   * @param backends - Origins of the backends the module fetches
   * (`backend://api/…`), if it fetches any.
   */
  static plain(
    modulePath: string,
    url: string,
    threads: number,
    backends?: Record<string, string>,
  ): Promise<LoopThreads> {
    return LoopThreads.#start('./plain-thread.ts', threads, {
      modulePath,
      url,
      warmup: WARMUP,
      ...(backends ? { backends } : {}),
    });
  }

  /** The runtime alone: `bundle` in a DeploymentIsolate on one thread, no worker process around it. */
  static isolate(bundle: SandboxBundle, url: string): Promise<LoopThreads> {
    return LoopThreads.#start('./isolate-thread.ts', 1, {
      code: bundle.code,
      bundleHash: bundle.bundleHash,
      url,
      warmup: WARMUP,
    });
  }

  /** Starts the threads and waits until each has warmed up. */
  static async #start(script: string, threads: number, workerData: unknown): Promise<LoopThreads> {
    const workers = Array.from(
      { length: threads },
      () => new Worker(new URL(script, import.meta.url), { workerData }),
    );
    const self = new LoopThreads(workers);
    try {
      const ready = (await Promise.all(workers.map((w) => self.#next(w)))) as Array<{
        html: string;
      }>;
      self.html = ready[0]?.html ?? '';
    } catch (err) {
      await self.stop();
      throw err;
    }
    return self;
  }

  #next(w: Worker): Promise<unknown> {
    return new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  }

  /** Every thread renders for `durationMs`, all at once. */
  async run(durationMs: number): Promise<Run> {
    const results = this.#workers.map((w) => this.#next(w)) as Array<Promise<Run>>;
    for (const w of this.#workers) w.postMessage({ durationMs });
    const runs = await Promise.all(results);
    return {
      count: runs.reduce((n, r) => n + r.count, 0),
      elapsedMs: Math.max(...runs.map((r) => r.elapsedMs)),
      latencies: runs.flatMap((r) => r.latencies),
      stages: [],
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/** Runs added one after the other (slices of one side). */
function merge(runs: Run[]): Run {
  return {
    count: runs.reduce((n, r) => n + r.count, 0),
    elapsedMs: runs.reduce((n, r) => n + r.elapsedMs, 0),
    cpuMs: runs.reduce((n, r) => n + (r.cpuMs ?? 0), 0),
    latencies: runs.flatMap((r) => r.latencies),
    stages: runs.flatMap((r) => r.stages),
  };
}

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

interface Side {
  rps: number;
  /** CPU ms the process spent per render, every thread counted (the sandbox side: transport, worker, thread and isolate). */
  cpuMsPerRender: number;
  p50: number;
  p99: number;
  mean: number;
  renders: number;
}

function side(run: Run): Side {
  return {
    rps: round((run.count / run.elapsedMs) * 1000, 1),
    cpuMsPerRender: round((run.cpuMs ?? Number.NaN) / run.count, 3),
    ...p50p99(run.latencies),
    mean: round(mean(run.latencies), 3),
    renders: run.count,
  };
}

function stageP50(run: Run): {
  render: number;
  renderMean: number;
  workerMinusRender: number;
  outsideWorker: number;
} {
  const render = p50p99(run.stages.map((s) => s.render)).p50;
  const worker = p50p99(run.stages.map((s) => s.worker)).p50;
  const total = p50p99(run.latencies).p50;
  return {
    render,
    renderMean: round(mean(run.stages.map((s) => s.render)), 3),
    workerMinusRender: round(worker - render, 3),
    outsideWorker: round(total - worker, 3),
  };
}

/** One row (c=1 or c=2) of one app: both sides and both ratios. */
interface Row {
  plain: Side;
  sandbox: Side & { stagesP50: ReturnType<typeof stageP50> };
  /** Sandbox renders/s ÷ plain renders/s: the whole path, hops included. */
  ratio: number;
  /** Plain p50 ÷ the p50 of the in-isolate `render` stage: the isolate's own cost, hops excluded. */
  isolateRenderRatio: number;
  /**
   * Plain CPU per render ÷ sandbox CPU per render: renders per CPU-second,
   * what bounds throughput when every core is busy.
   */
  cpuRatio: number;
}

function row(plain: Run, sandbox: Run): Row {
  const p = side(plain);
  const s = side(sandbox);
  const stagesP50 = stageP50(sandbox);
  return {
    plain: p,
    sandbox: { ...s, stagesP50 },
    ratio: round(s.rps / p.rps, 3),
    isolateRenderRatio: round(p.p50 / stagesP50.render, 3),
    cpuRatio: round(p.cpuMsPerRender / s.cpuMsPerRender, 3),
  };
}

interface AppResult {
  app: string;
  page: string;
  /** Bytes of the sandbox bundle of rows c=1 and c=2 (renderRoute + the catalogue). */
  bundleBytes: number;
  htmlChars: number;
  /** Plain and sandbox rendered the same HTML (c=1 and, if run, router+api). */
  sameHtml: boolean;
  c1: Row;
  c2?: Row;
  /** One plain thread against a RenderWorker thread kept busy (4 in flight). */
  loaded?: Row;
  /** The runtime alone (no transport, no piscina hop) against plain Node, c=1. */
  isolate?: IsolateRow;
  /** The app as deployed: its Router fetching the catalogue from the products API, c=1. */
  router?: Row & {
    /** Bytes of the app's real bundle (`flotilla build`). */
    bundleBytes: number;
    sameHtml: boolean;
    /** Its page is the one rows c=1 and c=2 render from memory. */
    sameHtmlAsMemory: boolean;
  };
}

/** Plain Node on a thread against a thread rendering straight into an isolate. */
interface IsolateRow {
  plain: Side;
  isolate: Side;
  /** Isolate renders/s ÷ plain renders/s. */
  ratio: number;
  /** Plain CPU per render ÷ isolate CPU per render (every thread of the process counted). */
  cpuRatio: number;
  sameHtml: boolean;
}

async function measureIsolateRow(
  app: BenchApp,
  bundle: SandboxBundle,
  modulePath: string,
): Promise<IsolateRow> {
  const plain = await LoopThreads.plain(modulePath, pageUrl(app), 1);
  try {
    const isolate = await LoopThreads.isolate(bundle, pageUrl(app));
    try {
      const r = await interleave(
        (ms) => plain.run(ms),
        (ms) => isolate.run(ms),
      );
      const p = side(r.plain);
      const i = side(r.sandbox);
      return {
        plain: p,
        isolate: i,
        ratio: round(i.rps / p.rps, 3),
        cpuRatio: round(p.cpuMsPerRender / i.cpuMsPerRender, 3),
        sameHtml: plain.html === isolate.html,
      };
    } finally {
      await isolate.stop();
    }
  } finally {
    await plain.stop();
  }
}

/** One row: `threads` plain-Node threads against a RenderWorker with `threads` threads. */
async function measureRow(options: {
  app: BenchApp;
  deploymentsDir: string;
  deploymentId: string;
  modulePath: string;
  threads: number;
  /**
   * Sandbox renders in flight per thread (the RenderWorker's
   * `tasksPerThread`, and the client keeps that many per thread going).
   * 1: one at a time, every hop on the critical path; more: the thread
   * always has the next render queued, as under load.
   */
  inFlightPerThread?: number;
  backends?: Record<string, string>;
}): Promise<{ row: Row; plainHtml: string; sandboxHtml: string }> {
  const { app, threads } = options;
  const plain = await LoopThreads.plain(
    options.modulePath,
    pageUrl(app),
    threads,
    options.backends,
  );
  try {
    const perThread = options.inFlightPerThread ?? 1;
    const sandbox = await startSandbox(
      options.deploymentsDir,
      options.deploymentId,
      app,
      threads,
      perThread,
    );
    try {
      const sandboxHtml = (await sandbox.client.render()).html;
      const r = await interleave(
        (ms) => plain.run(ms),
        (ms) => loop(threads * perThread, ms, async () => (await sandbox.client.render()).stages),
      );
      return { row: row(r.plain, r.sandbox), plainHtml: plain.html, sandboxHtml };
    } finally {
      await stopSandbox(sandbox);
    }
  } finally {
    await plain.stop();
  }
}

/**
 * Measures one app: the `memory` entry (renderRoute over the catalogue in
 * the bundle) plain and sandboxed at c=1, then (unless skipped) at c=2, then
 * (unless skipped) the app's Router with the products API at c=1.
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

  // c=1: plain Node on one thread, against a RenderWorker with 1 thread, 1 task per thread.
  const one = await measureRow({
    app,
    deploymentsDir,
    deploymentId: memoryId,
    modulePath: memoryModule,
    threads: 1,
  });

  // loaded: one plain thread against one RenderWorker thread that always has the next render queued.
  const loaded = WITH_LOADED
    ? (
        await measureRow({
          app,
          deploymentsDir,
          deploymentId: memoryId,
          modulePath: memoryModule,
          threads: 1,
          inFlightPerThread: LOADED_IN_FLIGHT,
        })
      ).row
    : undefined;

  // isolate only c=1: the runtime alone against plain Node, one thread each.
  const isolate = WITH_ISOLATE ? await measureIsolateRow(app, memory, memoryModule) : undefined;

  // c=2: two plain-Node worker threads against a RenderWorker with 2 threads.
  const two = WITH_C2
    ? await measureRow({
        app,
        deploymentsDir,
        deploymentId: memoryId,
        modulePath: memoryModule,
        threads: 2,
      })
    : undefined;

  // router+api c=1: the deployed bundle (Router, backend fetch) against the same Router in plain Node.
  let router: AppResult['router'];
  if (apiUrl !== undefined) {
    const bundle = await readBuiltBundle(built.bundlePath, built.manifest);
    const routerId = `${app.name}-router`;
    const backends = { api: apiUrl };
    await writeDeployment(deploymentsDir, routerId, app.name, bundle, backends);
    const routerModule = await bundlePlainApp(dir, app, 'router', built.manifest);
    const r = await measureRow({
      app,
      deploymentsDir,
      deploymentId: routerId,
      modulePath: routerModule,
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

/** Prints one app's table, breakdown and checks. */
function printApp(app: BenchApp, r: AppResult): void {
  console.log('');
  console.log(
    `${app.label} example (${r.app}), page ${r.page}: ${r.htmlChars} chars of HTML; ` +
      `${r.bundleBytes} B bundle rendering from memory` +
      (r.router ? `, ${r.router.bundleBytes} B deployed bundle (Router)` : ''),
  );
  const rows: Array<Array<string | number>> = [
    [
      'row',
      'side',
      'renders/s',
      'p50 ms',
      'p99 ms',
      'mean ms',
      'renders',
      'CPU ms/render',
      'ratio sandbox/plain',
      'ratio isolate render only',
      'ratio CPU/render',
    ],
  ];
  const sideRow = (label: string, name: string, x: Side, ratios: Array<number | string>) =>
    rows.push([label, name, x.rps, x.p50, x.p99, x.mean, x.renders, x.cpuMsPerRender, ...ratios]);
  const add = (label: string, x: Row) => {
    sideRow(label, 'plain node', x.plain, ['', '', '']);
    sideRow(label, 'sandbox', x.sandbox, [x.ratio, x.isolateRenderRatio, x.cpuRatio]);
  };
  add('c=1 (1 thread), from memory', r.c1);
  if (r.loaded) add(`loaded: 1 thread, ${LOADED_IN_FLIGHT} in flight`, r.loaded);
  if (r.isolate) {
    const label = 'isolate only c=1, from memory';
    sideRow(label, 'plain node', r.isolate.plain, ['', '', '']);
    sideRow(label, 'isolate', r.isolate.isolate, [r.isolate.ratio, '', r.isolate.cpuRatio]);
  }
  if (r.c2) add('c=2 (2 threads), from memory', r.c2);
  if (r.router) add('router+api c=1 (fetch + render)', r.router);
  console.log(table(rows));
  const st = r.c1.sandbox.stagesP50;
  console.log(
    `  sandbox c=1 per-render p50 breakdown: inside isolate (render) ${st.render} ms (mean ${st.renderMean}), ` +
      `worker process around it (bundle lookup, piscina, thread hop) ${st.workerMinusRender} ms, ` +
      `transport + encode/decode ${st.outsideWorker} ms; plain node p50 ${r.c1.plain.p50} ms (mean ${r.c1.plain.mean})`,
  );
  if (r.router) {
    const rt = r.router.sandbox.stagesP50;
    console.log(
      `  router+api: both sides run the app's Router, which fetches GET /products (~40 KB of JSON) from the products API ` +
        `(a process of its own) on every render; the sandbox's render stage (fetch included) p50 ${rt.render} ms, ` +
        `plain node p50 ${r.router.plain.p50} ms. Not the isolate's cost alone: the API's time weighs on both sides.`,
    );
  }
  console.log(
    `  same HTML on both sides: ${r.sameHtml ? 'yes' : 'NO'} (${r.htmlChars} chars plain)` +
      (r.router
        ? `; router+api page ${r.router.sameHtmlAsMemory ? 'identical to' : 'DIFFERENT from'} the page rendered from memory`
        : ''),
  );
}

/**
 * Starts the products API as a process of its own (so serving it takes no
 * time from the bench's threads); it exits with this process.
 */
async function startApiProcess(): Promise<{ url: string; child: ChildProcess }> {
  const script = fileURLToPath(import.meta.resolve('@flotilla/example-products-api/server'));
  const child = spawn(process.execPath, [script, '--port', '0', '--exit-with-parent'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const fail = (why: string) => {
      child.kill('SIGKILL');
      reject(new Error(`products API: ${why}`));
    };
    const timer = setTimeout(() => fail('no ready line within 10 s'), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /ready on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`products API exited (${code}) before it was ready`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`products API: ${err.message}`));
    });
  });
  child.stdout?.resume();
  return { url, child };
}

async function stopApiProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Runs the bench, prints its tables and the RESULT line, and returns the figures. */
export async function main(): Promise<Record<string, unknown>> {
  for (const w of assertIsolateHostProcess()) process.stderr.write(`warning: ${w}\n`);
  hardTimeout('ssr-throughput', 200_000);
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-ssr-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir); // also when the hard timeout ends the process
  let api: { url: string; child: ChildProcess } | undefined;
  try {
    if (WITH_ROUTER) api = await startApiProcess();
    const loadBefore = loadavg()[0] ?? 0;
    console.log(
      `ssr-throughput: ${APPS.map((a) => a.label).join(' and ')} examples, page /; ` +
        `node ${process.version}, flags ${process.execArgv.join(' ') || '(none)'}; ` +
        `warm-up ${WARMUP} renders per thread, then ${SECONDS} s per side and row in ${SLICES} slices alternating between the sides`,
    );
    console.log(
      "  rows c=1 and c=2: both sides run the same handler around the app's renderRoute('/', PRODUCTS), the catalogue compiled in (no backend fetch): the same render work;",
    );
    if (api) {
      console.log(
        `  row router+api: the app as deployed (Router; GET /products from the products API at ${api.url} on every render) against the same Router in plain Node;`,
      );
    }
    console.log(
      '  ratio sandbox/plain = sandbox renders/s ÷ plain renders/s (the whole path: transport, worker, piscina thread hop, isolate);',
    );
    console.log(
      '  ratio isolate render only = plain p50 ÷ p50 of the in-isolate `render` stage (the isolate alone, without the piscina/transport hops);',
    );
    if (WITH_ISOLATE) {
      console.log(
        '  row isolate only: a thread renders straight into the isolate (DeploymentIsolate.render: limits, CPU/wall watch, result checks, body copied out), no transport, no piscina hop;',
      );
    }
    console.log(
      '  ratio CPU/render = plain CPU ms per render ÷ sandbox CPU ms per render, every thread of the process counted: the throughput ratio when all cores are busy.',
    );
    const results: AppResult[] = [];
    for (const app of APPS) {
      const r = await benchApp(app, dir, api?.url);
      results.push(r);
      printApp(app, r);
    }
    const rr =
      api && process.env.BENCH_SSR_REACT_ROUTER !== '0'
        ? await reactRouterRow({ apiUrl: api.url, seconds: SECONDS, slices: SLICES })
        : undefined;
    if (rr) printReactRouterRow(rr);
    const loadAfter = loadavg()[0] ?? 0;
    console.log('');
    // Other processes on the machine skew both sides, the sandbox's threads more.
    console.log(
      `1-min load average ${round(loadBefore, 2)} before, ${round(loadAfter, 2)} after (a busy machine lowers the ratios)`,
    );
    const summary = results.map((r) => {
      const app = APPS.find((a) => a.name === r.app);
      return (
        `${app?.label}: sandbox ${r.c1.sandbox.rps}/s vs plain ${r.c1.plain.rps}/s on one thread ` +
        `(ratio ${r.c1.ratio}, isolate render only ${r.c1.isolateRenderRatio})` +
        (r.loaded ? `, loaded (1 thread busy) ratio ${r.loaded.ratio}` : '') +
        (r.isolate
          ? `, isolate only ${r.isolate.isolate.rps}/s vs ${r.isolate.plain.rps}/s (ratio ${r.isolate.ratio})`
          : '') +
        (r.c2
          ? `, on two threads ${r.c2.sandbox.rps}/s vs ${r.c2.plain.rps}/s (ratio ${r.c2.ratio}, isolate render only ${r.c2.isolateRenderRatio})`
          : '') +
        (r.router
          ? `; Router + products API ${r.router.sandbox.rps}/s vs ${r.router.plain.rps}/s (ratio ${r.router.ratio})`
          : '')
      );
    });
    console.log(`summary: ${summary.join('; ')}`);
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
    if (api) await stopApiProcess(api.child);
    process.off('exit', removeDir);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`ssr-throughput failed: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  }
}
