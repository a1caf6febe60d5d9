/**
 * AsyncLocalStorage in the isolate: the two candidate designs of issue 13
 * against a no-ALS baseline, in one run.
 *
 * - **baseline**: no AsyncLocalStorage; the bundle as `flotilla build`
 *   bundles it.
 * - **carry** (candidate 1, what the runtime does): `Flotilla.AsyncLocalStorage`,
 *   its context carried through `Promise.prototype.then`, timers and
 *   microtasks, the bundle's async functions lowered at build
 *   (`lowerForAsyncContext`); renders interleave in one isolate.
 * - **serial** (candidate 2): a "current store" kept in one variable
 *   (set by `run` until its promise settles), correct only while one render
 *   at a time runs in an isolate: concurrency comes from more isolates.
 *
 * Measured:
 * 1. correctness under interleaving: N renders in flight, each checking its
 *    store after awaits of backend fetches (answered out of order), timers,
 *    Promise.all, and two parallel nested `run`s inside the render;
 * 2. warm render time of the React listing page (the handler inside a
 *    `run`), bundle size, and the isolate's heap;
 * 3. renders per second of an I/O-bound render with N in flight: carry in
 *    one isolate, serial in one isolate (one at a time) and in N isolates.
 *
 * Run: node bench/src/run-all.ts async-context
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DeploymentIsolate, type SandboxRequest } from '@flotilla/runtime';
import { lowerForAsyncContext } from '@flotilla/sdk/build';
import { benchTempDir, hardTimeout, runBench } from './bench-process.ts';
import { REACT_SHOP } from './plain-app.ts';
import { bundleMemoryApp } from './sandbox-app.ts';
import { now, p50p99, printResult, round, table } from './stats.ts';

/** Renders in flight (and isolates for the serial candidate). */
const IN_FLIGHT = 8;
const CORRECTNESS_ROUNDS = 10;
const WARM_SLICES = 10;
const WARM_PER_SLICE = 30;
const THROUGHPUT_MS = 1000;
const THROUGHPUT_PASSES = 4;

/** Candidate 2's store: one variable, set by `run` until the promise `fn` returned settles. */
const SERIAL_ALS = `class SerialALS {
  constructor() { this.store = undefined; }
  getStore() { return this.store; }
  run(store, fn, ...args) {
    const previous = this.store;
    this.store = store;
    let result;
    try { result = fn(...args); } catch (e) { this.store = previous; throw e; }
    if (result && typeof result.then === 'function') return result.finally(() => { this.store = previous; });
    this.store = previous;
    return result;
  }
}`;

/** The no-ALS baseline: `run` just calls, `getStore` is what the render would have passed down. */
const NO_ALS = `class NoALS { run(store, fn, ...args) { return fn(...args); } getStore() { return undefined; } }`;

type Design = 'baseline' | 'carry' | 'serial';
const ALS_EXPR: Record<Design, string> = {
  baseline: `new (${NO_ALS})()`,
  carry: 'new Flotilla.AsyncLocalStorage()',
  serial: `new (${SERIAL_ALS})()`,
};

/** Each render checks its store after every kind of wait; answers with the counts. */
const interleaveSource = (design: Design) => `
const als = ${ALS_EXPR[design]};
Flotilla.serve((req) => {
  const q = new URL(req.url).searchParams;
  const me = q.get('id');
  const ms = Number(q.get('ms'));
  return als.run({ me }, async () => {
    let checks = 0, wrong = 0, lost = 0;
    const check = () => { checks++; const s = als.getStore(); if (s === undefined) lost++; else if (s.me !== me) wrong++; };
    check();
    await fetch('backend://api/wait?ms=' + ms); check();
    await new Promise((r) => setTimeout(r, ms % 3)); check();
    await Promise.all([fetch('backend://api/wait?ms=' + (ms >> 1)).then(check), new Promise((r) => setTimeout(r, 1)).then(check)]);
    check();
    const inner = await Promise.all(['x', 'y'].map((k) => als.run({ me: me + k }, async () => {
      await new Promise((r) => setTimeout(r, k === 'x' ? 2 : 1));
      const s = als.getStore();
      return s === undefined ? 'lost' : s.me === me + k ? 'ok' : 'wrong';
    })));
    let html = '';
    for (let i = 0; i < 400; i++) html += '<li>' + i + '</li>';
    return Response.json({ checks, wrong, lost, nested: inner, bytes: html.length });
  });
});`;

/** The app's handler inside a `run` of the design's AsyncLocalStorage (prepended to its bundle). */
const wrapServe = (design: Design) => `(() => {
  const real = globalThis.Flotilla;
  const als = ${ALS_EXPR[design]};
  const serve = (h) => {
    const call = typeof h === 'function' ? h : (r, e) => h.fetch(r, e);
    real.serve((req, env) => als.run({ url: req.url }, () => call(req, env)));
  };
  Object.defineProperty(globalThis, 'Flotilla', { value: Object.freeze({ ...real, serve }), configurable: true, writable: true });
})();
`;

/**
 * Answers `/__gc` by collecting the isolate's garbage (the bench runs with
 * `--expose-gc`, which gives every context `gc`), so that heaps are compared
 * after a GC. Prepended to every bundle of the bench.
 */
const GC_PATH = `(() => {
  const real = globalThis.Flotilla;
  const serve = (h) => {
    const call = typeof h === 'function' ? h : (r, e) => h.fetch(r, e);
    real.serve((req, env) => {
      if (new URL(req.url).pathname !== '/__gc') return call(req, env);
      if (typeof globalThis.gc !== 'function') return new Response('no gc', { status: 500 });
      globalThis.gc();
      return new Response('collected');
    });
  };
  Object.defineProperty(globalThis, 'Flotilla', { value: Object.freeze({ ...real, serve }), configurable: true, writable: true });
})();
`;

const sha = (code: string) => createHash('sha256').update(code).digest('hex');

/** One deployment's isolates; `serialized` lets each run one render at a time (candidate 2). */
class Pool {
  readonly #free: DeploymentIsolate[];
  readonly #waiting: Array<(iso: DeploymentIsolate) => void> = [];
  readonly isolates: DeploymentIsolate[];
  readonly serialized: boolean;
  constructor(isolates: DeploymentIsolate[], serialized: boolean) {
    this.isolates = isolates;
    this.serialized = serialized;
    this.#free = [...isolates];
  }
  async render(req: SandboxRequest): Promise<string> {
    if (!this.serialized) return text(await (this.isolates[0] as DeploymentIsolate).render(req));
    const iso =
      this.#free.pop() ??
      (await new Promise<DeploymentIsolate>((resolve) => this.#waiting.push(resolve)));
    try {
      return text(await iso.render(req));
    } finally {
      const next = this.#waiting.shift();
      if (next) next(iso);
      else this.#free.push(iso);
    }
  }
  /** The heap of its isolates after a GC in each (call it while none renders). */
  async heapBytes(): Promise<number> {
    let sum = 0;
    for (const iso of this.isolates) {
      text(
        await iso.render({ method: 'GET', url: 'http://shop.test/__gc', headers: [], body: null }),
      );
      sum += iso.heapUsed();
    }
    return sum;
  }
  dispose(): void {
    for (const iso of this.isolates) iso.dispose();
  }
}

function text(res: { status: number; body: Uint8Array }): string {
  const body = new TextDecoder().decode(res.body);
  if (res.status !== 200) throw new Error(`render answered ${res.status}: ${body.slice(0, 200)}`);
  return body;
}

async function pool(source: string, isolates: number, serialized: boolean, backend: string) {
  const code = GC_PATH + source;
  const list: DeploymentIsolate[] = [];
  for (let i = 0; i < isolates; i++) {
    list.push(
      await DeploymentIsolate.load({
        deploymentId: `als-${i}`,
        code,
        bundleHash: sha(code),
        backends: { api: backend },
      }),
    );
  }
  return new Pool(list, serialized);
}

const interleaveRequest = (id: string, ms: number): SandboxRequest => ({
  method: 'GET',
  url: `http://shop.test/?id=${id}&ms=${ms}`,
  headers: [],
  body: null,
});

interface Correctness {
  row: string;
  renders: number;
  checks: number;
  wrong: number;
  lost: number;
  nestedWrong: number;
  nestedLost: number;
}

async function correctness(row: string, p: Pool): Promise<Correctness> {
  const c: Correctness = {
    row,
    renders: 0,
    checks: 0,
    wrong: 0,
    lost: 0,
    nestedWrong: 0,
    nestedLost: 0,
  };
  for (let round = 0; round < CORRECTNESS_ROUNDS; round++) {
    const answers = await Promise.all(
      Array.from({ length: IN_FLIGHT }, (_, i) =>
        // Later renders wait less: their answers overtake the earlier ones'.
        p.render(interleaveRequest(`${round}-${i}`, 2 + (IN_FLIGHT - i) * 2)),
      ),
    );
    for (const body of answers) {
      const r = JSON.parse(body) as {
        checks: number;
        wrong: number;
        lost: number;
        nested: string[];
      };
      c.renders++;
      c.checks += r.checks;
      c.wrong += r.wrong;
      c.lost += r.lost;
      c.nestedWrong += r.nested.filter((n) => n === 'wrong').length;
      c.nestedLost += r.nested.filter((n) => n === 'lost').length;
    }
  }
  return c;
}

/**
 * IN_FLIGHT closed loops for THROUGHPUT_MS: renders done, and this process's
 * CPU time (isolates, threads, the backend server alike) over them.
 */
async function throughput(p: Pool): Promise<{ renders: number; cpuMs: number }> {
  const end = now() + THROUGHPUT_MS;
  const cpu = process.cpuUsage();
  let done = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, i) => {
      while (now() < end) {
        await p.render(interleaveRequest(`t-${i}`, 5));
        done++;
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return { renders: done, cpuMs: (used.user + used.system) / 1000 };
}

function backendServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms')) || 0;
    setTimeout(() => res.end('ok'), ms);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  );
}

interface ReactRow {
  design: Design;
  bundleKiB: number;
  warmMs: { p50: number; p99: number };
  warmRatio: number;
  heapMb: number;
  heapInFlightMb: number;
}

/** Warm renders of the React listing for each design, in alternating slices; bundle size, heap. */
async function reactRows(dir: string, backend: string): Promise<ReactRow[]> {
  const built = await REACT_SHOP.build({ outDir: join(dir, 'react') });
  const base = (await bundleMemoryApp(REACT_SHOP, built.manifest)).code;
  const codes: Record<Design, string> = {
    baseline: base,
    carry: await lowerForAsyncContext(wrapServe('carry') + base),
    serial: wrapServe('serial') + base,
  };
  const designs: Design[] = ['baseline', 'carry', 'serial'];
  const pools = new Map<Design, Pool>();
  // Candidate 2 needs an isolate per render in flight.
  for (const d of designs) {
    pools.set(d, await pool(codes[d], d === 'serial' ? IN_FLIGHT : 1, d === 'serial', backend));
  }
  const req: SandboxRequest = {
    method: 'GET',
    url: 'http://react-shop.localhost/',
    headers: [],
    body: null,
  };
  const times = new Map<Design, number[]>(designs.map((d) => [d, []]));
  try {
    // Warm every isolate (renders in flight at once spread over the serial pool's).
    for (const d of designs) {
      const p = pools.get(d) as Pool;
      for (let i = 0; i < 10; i++) {
        await Promise.all(Array.from({ length: IN_FLIGHT }, () => p.render(req)));
      }
    }
    for (let s = 0; s < WARM_SLICES; s++) {
      for (const d of designs) {
        const p = pools.get(d) as Pool;
        for (let i = 0; i < WARM_PER_SLICE; i++) {
          const t = now();
          await p.render(req);
          times.get(d)?.push(now() - t);
        }
      }
    }
    const base50 = p50p99(times.get('baseline') ?? []).p50;
    const heaps = new Map<Design, number>();
    for (const d of designs) heaps.set(d, await (pools.get(d) as Pool).heapBytes());
    return designs.map((d) => {
      const warmMs = p50p99(times.get(d) ?? []);
      const heap = (heaps.get(d) ?? 0) / 1024 / 1024;
      const isolates = (pools.get(d) as Pool).isolates.length;
      return {
        design: d,
        bundleKiB: round(Buffer.byteLength(codes[d]) / 1024, 1),
        warmMs,
        warmRatio: round(warmMs.p50 / base50, 3),
        heapMb: round(heap / isolates, 1),
        // IN_FLIGHT renders at once: one isolate interleaves them, or one isolate each.
        heapInFlightMb: round(heap, 1),
      };
    });
  } finally {
    for (const p of pools.values()) p.dispose();
  }
}

export async function main(): Promise<Record<string, unknown>> {
  hardTimeout('async-context', 170_000);
  const dir = await benchTempDir('async-context');
  const { server, origin } = await backendServer();
  try {
    // 1. Correctness under interleaving.
    const carryCode = await lowerForAsyncContext(interleaveSource('carry'));
    const serialCode = interleaveSource('serial');
    const rows: Array<[string, string, number, boolean]> = [
      ['carry, 1 isolate', carryCode, 1, false],
      ['carry, not lowered', interleaveSource('carry'), 1, false],
      ['serial, 1 isolate interleaving', serialCode, 1, false],
      [`serial, ${IN_FLIGHT} isolates one render each`, serialCode, IN_FLIGHT, true],
    ];
    const checked: Correctness[] = [];
    for (const [row, code, n, serialized] of rows) {
      const p = await pool(code, n, serialized, origin);
      try {
        checked.push(await correctness(row, p));
      } finally {
        p.dispose();
      }
    }

    // 2. Warm React render, bundle size, heap.
    const react = await reactRows(dir.path, origin);

    // 3. Throughput of an I/O-bound render with IN_FLIGHT in flight.
    const loops: Array<[string, string, number, boolean]> = [
      ['baseline (no ALS), 1 isolate', interleaveSource('baseline'), 1, false],
      ['carry, 1 isolate', carryCode, 1, false],
      ['serial, 1 isolate one render at a time', serialCode, 1, true],
      [`serial, ${IN_FLIGHT} isolates`, serialCode, IN_FLIGHT, true],
    ];
    const loopPools: Pool[] = [];
    for (const [, code, n, serialized] of loops)
      loopPools.push(await pool(code, n, serialized, origin));
    const rates: Array<{
      row: string;
      rendersPerS: number;
      cpuMsPerRender: number;
      heapMb: number;
    }> = [];
    try {
      // Passes alternating between rows, so that the machine's load hits every row alike.
      const renders = loops.map(() => 0);
      const cpuMs = loops.map(() => 0);
      for (let pass = 0; pass < THROUGHPUT_PASSES; pass++) {
        for (const [i, p] of loopPools.entries()) {
          const r = await throughput(p);
          renders[i] = (renders[i] ?? 0) + r.renders;
          cpuMs[i] = (cpuMs[i] ?? 0) + r.cpuMs;
        }
      }
      for (const [i, [row]] of loops.entries()) {
        const p = loopPools[i] as Pool;
        const n = renders[i] ?? 0;
        rates.push({
          row,
          rendersPerS: round(n / ((THROUGHPUT_PASSES * THROUGHPUT_MS) / 1000), 1),
          cpuMsPerRender: round((cpuMs[i] ?? 0) / n, 3),
          heapMb: round((await p.heapBytes()) / 1024 / 1024, 1),
        });
      }
    } finally {
      for (const p of loopPools) p.dispose();
    }
    const baseRate = rates[0]?.rendersPerS ?? Number.NaN;
    const baseCpu = rates[0]?.cpuMsPerRender ?? Number.NaN;

    process.stdout.write(
      `async-context: ${IN_FLIGHT} renders in flight, ${CORRECTNESS_ROUNDS} rounds; React listing ${WARM_SLICES}×${WARM_PER_SLICE} warm renders per design in alternating slices; ${THROUGHPUT_MS} ms loops\n\n`,
    );
    process.stdout.write(
      `${table([
        [
          'correctness',
          'renders',
          'checks',
          'wrong store',
          'lost store',
          'nested wrong',
          'nested lost',
        ],
        ...checked.map((c) => [
          c.row,
          c.renders,
          c.checks,
          c.wrong,
          c.lost,
          c.nestedWrong,
          c.nestedLost,
        ]),
      ])}\n\n`,
    );
    process.stdout.write(
      `${table([
        [
          'React listing',
          'bundle KiB',
          'warm p50 ms',
          'p99 ms',
          'vs baseline',
          'heap/isolate MB',
          `heap for ${IN_FLIGHT} in flight MB`,
        ],
        ...react.map((r) => [
          r.design,
          r.bundleKiB,
          r.warmMs.p50,
          r.warmMs.p99,
          `${r.warmRatio}×`,
          r.heapMb,
          r.heapInFlightMb,
        ]),
      ])}\n\n`,
    );
    process.stdout.write(
      `${table([
        ['I/O-bound render', 'renders/s', 'vs baseline', 'CPU ms/render', 'vs baseline', 'heap MB'],
        ...rates.map((r) => [
          r.row,
          r.rendersPerS,
          `${round(r.rendersPerS / baseRate, 2)}×`,
          r.cpuMsPerRender,
          `${round(r.cpuMsPerRender / baseCpu, 2)}×`,
          r.heapMb,
        ]),
      ])}\n\n`,
    );
    const carry = react.find((r) => r.design === 'carry');
    const serial = react.find((r) => r.design === 'serial');
    const base = react.find((r) => r.design === 'baseline');
    process.stdout.write(
      `summary: carry (candidate 1) wrong stores ${checked[0]?.wrong}+${checked[0]?.nestedWrong} of ${(checked[0]?.checks ?? 0) + (checked[0]?.renders ?? 0) * 2}; React warm ${carry?.warmRatio}× baseline, bundle ${round((carry?.bundleKiB ?? 0) / (base?.bundleKiB ?? 1), 2)}×; ` +
        `serial (candidate 2) in 1 isolate: ${checked[2]?.wrong} wrong stores; in ${IN_FLIGHT} isolates: ${checked[3]?.wrong} wrong, ${checked[3]?.nestedWrong} nested wrong, React warm ${serial?.warmRatio}×, heap for ${IN_FLIGHT} in flight ${serial?.heapInFlightMb} MB vs ${carry?.heapInFlightMb} MB\n`,
    );
    const result = {
      bench: 'async-context',
      inFlight: IN_FLIGHT,
      correctness: checked,
      react,
      throughput: rates,
    };
    printResult(result);
    return result;
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await dir.remove();
  }
}

if (import.meta.main) await runBench('async-context', main);
