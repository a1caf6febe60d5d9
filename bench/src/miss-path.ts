/**
 * Miss path: what the fleet adds around a render. A real nats-server, the
 * examples published into a temp store, and shield, 2 schedulers and 2
 * workers as separate OS processes (as in production); then a bounded load of
 * `GET /react-shop/p/<i>` (small detail pages) against the shield. For each
 * response, overhead = client-measured latency − the `render` stage of
 * `server-timing` (time inside the isolate).
 *
 * Baseline, same run: a bare NATS request/reply round trip on the same
 * nats-server (trivial in-process responder, payloads of the same size, same
 * concurrency). Ratio = overhead p50 / bare-NATS p50, i.e. how many NATS round
 * trips the HTTP → shield → NATS → scheduler → NATS → worker → thread path
 * costs beyond the render itself.
 *
 * Also measured: the same at 1 in flight (the path's own cost, no queueing).
 *
 * Run: node bench/src/run-all.ts miss-path
 * Env: BENCH_MISS_REQUESTS (default 5000), BENCH_MISS_CONCURRENCY (default 8),
 *      BENCH_MISS_SEQUENTIAL (requests at 1 in flight, default 1000).
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publishExamples } from '@flotilla/demo';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { type ProductsApi, startProductsApi } from '@flotilla/example-products-api';
import { connectNats } from '@flotilla/fleet';
import {
  encodeRenderRequest,
  encodeRenderResult,
  nextTraceparent,
  type WireMessage,
} from '@flotilla/protocol';
import { ISOLATE_HOST_FLAGS } from '@flotilla/runtime/process-flags';
import {
  type ChildHandle,
  type NatsServerHandle,
  spawnProcess,
  startNatsServer,
} from '@flotilla/test-harness';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { hardTimeout, mean, now, p50p99, printResult, round, table } from './stats.ts';

const REQUESTS = Number(process.env.BENCH_MISS_REQUESTS) || 5000;
const SEQUENTIAL = Number(process.env.BENCH_MISS_SEQUENTIAL) || 1000;
const CONCURRENCY = Number(process.env.BENCH_MISS_CONCURRENCY) || 8;
const WARMUP = 400;
const LOAD_CAP_MS = 30_000;
const REGION = 'bench';
const WORKERS = 2;
const SCHEDULERS = 2;
const THREADS_PER_WORKER = 1;
const FLEET_BIN = join(dirname(fileURLToPath(import.meta.resolve('@flotilla/fleet'))), 'bin.ts');
const READY = /^flotilla \w+ ready: /;

interface RoleProcess {
  role: 'shield' | 'scheduler' | 'worker';
  url: string;
  child: ChildHandle;
}

async function startRoleProcess(
  role: RoleProcess['role'],
  nats: string,
  storeDir: string,
  index: number,
): Promise<RoleProcess> {
  const child = await spawnProcess({
    command: process.execPath,
    args: [
      ...ISOLATE_HOST_FLAGS,
      FLEET_BIN,
      'start',
      '--nats',
      nats,
      '--role',
      role,
      '--region',
      REGION,
      '--port',
      '0',
      '--admin-port',
      '0',
      '--store',
      storeDir,
      '--no-examples',
      '--log-format',
      'json',
      ...(role === 'worker' ? ['--threads', String(THREADS_PER_WORKER)] : []),
      // This bench measures misses: every request must reach a worker.
      ...(role === 'shield' ? ['--no-cache'] : []),
    ],
    name: `${role}-${index}`,
    readyPattern: READY,
    readyTimeoutMs: 30_000,
  });
  const line = await child.waitForLine(READY, 1000);
  const url = / on (http:\/\/\S+)$/.exec(line)?.[1];
  if (!url) {
    await child.kill('SIGKILL');
    throw new Error(`${role}-${index}: no URL in its ready line: ${line}`);
  }
  return { role, url, child };
}

/** One response as the client saw it. */
interface Sample {
  status: number;
  totalMs: number;
  bytes: number;
  timings: Record<string, number>;
}

function parseServerTiming(header: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const m = /^\s*([\w-]+)\s*;.*?\bdur=([0-9.]+)/.exec(part);
    if (m?.[1] && m[2]) out[m[1]] = Number(m[2]);
  }
  return out;
}

async function get(url: string): Promise<Sample> {
  const t = now();
  const res = await fetch(url);
  const body = await res.arrayBuffer();
  const totalMs = now() - t;
  return {
    status: res.status,
    totalMs,
    bytes: body.byteLength,
    timings: parseServerTiming(res.headers.get('server-timing')),
  };
}

/** Runs `total` calls of `once(i)` with `concurrency` in flight, stopping early at `capMs`. */
async function drive<T>(
  total: number,
  concurrency: number,
  capMs: number,
  once: (i: number) => Promise<T>,
): Promise<{ results: T[]; elapsedMs: number }> {
  const results: T[] = [];
  let next = 0;
  const started = now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total && now() - started < capMs) {
        results.push(await once(next++));
      }
    }),
  );
  return { results, elapsedMs: now() - started };
}

/**
 * Waits until every scheduler knows `workers` live workers (from their
 * heartbeats), so that the first renders can spread over all workers.
 */
async function waitForWorkers(
  schedulers: RoleProcess[],
  workers: number,
  timeoutMs: number,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    const seen = await Promise.all(
      schedulers.map(async (s) => {
        try {
          const health = (await (await fetch(`${s.url}/healthz`)).json()) as {
            liveWorkers?: number;
          };
          return health.liveWorkers ?? 0;
        } catch {
          return 0;
        }
      }),
    );
    if (seen.every((n) => n >= workers)) return;
    last = seen.join(', ');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`schedulers did not see ${workers} workers within ${timeoutMs} ms (saw ${last})`);
}

/** Sum of `flotilla_worker_renders_total{outcome="ok"}` on a worker's /metrics. */
async function workerRenders(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('flotilla_worker_renders_total{') && line.includes('outcome="ok"')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

/** p50/p99 and throughput of one bare-NATS run. */
interface BareRun {
  p50: number;
  p99: number;
  rps: number;
}

/**
 * Bare NATS request/reply on the same server: a trivial in-process responder
 * replying with a fixed message the size of a render reply, to requests
 * shaped like the shield's render requests. Returns one run per entry of
 * `runs` (each `[requests, concurrency]`).
 */
async function bareNats(
  natsUrl: string,
  replyBytes: number,
  runs: Array<[number, number]>,
): Promise<BareRun[]> {
  const responder = await connectNats(natsUrl, 'bench-responder');
  const requester = await connectNats(natsUrl, 'bench-requester');
  try {
    const subject = `bench.${randomUUID().slice(0, 8)}.echo`;
    const reply: WireMessage = encodeRenderResult({
      ok: true,
      status: 200,
      headers: [['content-type', 'text/html; charset=utf-8']],
      body: new Uint8Array(replyBytes).fill(0x61),
      timings: { queue: 0.01, render: 0.5, worker: 0.6, transport: 0.3, scheduler: 0.05 },
    });
    const toHeaders = (m: WireMessage) => {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
      return h;
    };
    const replyHeaders = toHeaders(reply);
    responder.subscribe(subject, {
      callback: (err, msg) => {
        if (!err) msg.respond(reply.body, { headers: replyHeaders });
      },
    });
    await responder.flush();
    const request = (i: number) => {
      const m = encodeRenderRequest({
        deploymentId: 'react-shop-000000000000',
        method: 'GET',
        url: `http://127.0.0.1/p/${(i % 120) + 1}`,
        headers: [
          ['accept', '*/*'],
          ['user-agent', 'node'],
          ['x-forwarded-prefix', '/react-shop'],
        ],
        body: new Uint8Array(0),
        deadline: Date.now() + 10_000,
        traceparent: nextTraceparent(),
        requestId: randomUUID(),
        attempt: 1,
      });
      return requester.request(subject, m.body, { timeout: 10_000, headers: toHeaders(m) });
    };
    await drive(500, CONCURRENCY, 10_000, request); // warm-up
    const out: BareRun[] = [];
    for (const [total, concurrency] of runs) {
      const { results, elapsedMs } = await drive(total, concurrency, LOAD_CAP_MS, async (i) => {
        const t = now();
        await request(i);
        return now() - t;
      });
      out.push({ ...p50p99(results), rps: round((results.length / elapsedMs) * 1000, 1) });
    }
    return out;
  } finally {
    await requester.drain().catch(() => {});
    await responder.drain().catch(() => {});
  }
}

/** Figures of one load run through the shield. */
interface PathRun {
  requests: number;
  concurrency: number;
  rps: number;
  non200: number;
  totalMs: { p50: number; p99: number };
  renderMs: { p50: number; p99: number };
  overheadMs: { p50: number; p99: number };
  stagesP50: Record<string, number>;
}

async function loadPath(base: string, total: number, concurrency: number): Promise<PathRun> {
  const load = await drive(total, concurrency, LOAD_CAP_MS, (i) =>
    get(`${base}/p/${(i % 120) + 1}`),
  );
  const ok = load.results.filter((s) => s.status === 200 && s.timings.render !== undefined);
  const t = (s: Sample, k: string) => s.timings[k] ?? 0;
  const p50 = (f: (s: Sample) => number) => p50p99(ok.map(f)).p50;
  return {
    requests: load.results.length,
    concurrency,
    rps: round((load.results.length / load.elapsedMs) * 1000, 1),
    non200: load.results.filter((s) => s.status !== 200).length,
    totalMs: p50p99(ok.map((s) => s.totalMs)),
    renderMs: p50p99(ok.map((s) => t(s, 'render'))),
    overheadMs: p50p99(ok.map((s) => s.totalMs - t(s, 'render'))),
    stagesP50: {
      shield: p50((s) => t(s, 'shield')),
      transport: p50((s) => t(s, 'transport')),
      scheduler: p50((s) => t(s, 'scheduler')),
      workerOutsideRender: p50((s) => t(s, 'worker') - t(s, 'render')),
      queue: p50((s) => t(s, 'queue')),
      clientAndHttp: p50(
        (s) => s.totalMs - t(s, 'shield') - t(s, 'transport') - t(s, 'scheduler') - t(s, 'worker'),
      ),
    },
  };
}

/** Runs the bench, prints its tables and the RESULT line, and returns the figures. */
export async function main(): Promise<Record<string, unknown>> {
  hardTimeout('miss-path', 140_000);
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-miss-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir); // also when the hard timeout ends the process
  let nats: NatsServerHandle | undefined;
  let api: ProductsApi | undefined;
  const roles: RoleProcess[] = [];
  try {
    const setupStarted = now();
    nats = await startNatsServer({ jetstream: true });
    api = await startProductsApi({ port: 0 });
    const publisher = await connectNats(nats.url, 'bench-publisher');
    const controlPlane = new ControlPlane({ store: await JetStreamControlStore.open(publisher) });
    const apps = await publishExamples(controlPlane, () => {}, api.url);
    await publisher.close();
    if (!apps.some((id) => id.startsWith('react-shop-'))) {
      throw new Error('publishExamples did not publish react-shop');
    }

    const specs: Array<RoleProcess['role']> = [
      ...Array<'worker'>(WORKERS).fill('worker'),
      ...Array<'scheduler'>(SCHEDULERS).fill('scheduler'),
      'shield',
    ];
    const started = await Promise.allSettled(
      specs.map((role, i) => startRoleProcess(role, nats?.url ?? '', join(dir, 'store'), i)),
    );
    for (const s of started) if (s.status === 'fulfilled') roles.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const shield = roles.find((r) => r.role === 'shield');
    const workers = roles.filter((r) => r.role === 'worker');
    if (!shield) throw new Error('no shield');
    const base = `${shield.url}/react-shop`;
    await waitForWorkers(
      roles.filter((r) => r.role === 'scheduler'),
      WORKERS,
      20_000,
    );
    const setupMs = now() - setupStarted;

    const mode = `separate OS processes: 1 shield, ${SCHEDULERS} schedulers, ${WORKERS} workers × ${THREADS_PER_WORKER} piscina thread, real nats-server`;
    console.log(`miss-path: GET /react-shop/p/<1..120> through the shield (${mode})`);
    console.log(
      `  node ${process.version}; setup ${Math.round(setupMs)} ms; warm-up ${WARMUP} requests, then ${SEQUENTIAL} requests at 1 in flight and ${REQUESTS} at ${CONCURRENCY} (global fetch, keep-alive)`,
    );

    // Warm-up: JIT everywhere, isolates on both workers, keep-alive sockets.
    // It starts with CONCURRENCY renders at once while every worker is cold,
    // so the schedulers (warm worker first, then least loaded) spread them.
    const warm = await drive(WARMUP, CONCURRENCY, 20_000, (i) => get(`${base}/p/${(i % 120) + 1}`));
    const okWarm = warm.results.filter((s) => s.status === 200);
    if (okWarm.length === 0) {
      throw new Error(
        `no warm-up request succeeded (statuses ${warm.results
          .map((s) => s.status)
          .slice(0, 10)
          .join(', ')})`,
      );
    }
    const warmedPerWorker = await Promise.all(workers.map((w) => workerRenders(w.url)));
    const replyBytes = Math.round(mean(okWarm.map((s) => s.bytes)));

    // Baseline, same run, same server: bare NATS at 1 and at CONCURRENCY in flight.
    const [bare1, bare] = await bareNats(nats.url, replyBytes, [
      [SEQUENTIAL, 1],
      [REQUESTS, CONCURRENCY],
    ]);
    if (!bare1 || !bare) throw new Error('bare NATS runs missing');

    // The measured loads: sequential (the path's own cost), then CONCURRENCY in flight.
    const seq = await loadPath(base, SEQUENTIAL, 1);
    const before = await Promise.all(workers.map((w) => workerRenders(w.url)));
    const run = await loadPath(base, REQUESTS, CONCURRENCY);
    const after = await Promise.all(workers.map((w) => workerRenders(w.url)));
    const perWorker = after.map((n, i) => n - (before[i] ?? 0));
    const ratio = round(run.overheadMs.p50 / bare.p50, 2);
    const ratio1 = round(seq.overheadMs.p50 / bare1.p50, 2);

    console.log('');
    const rows: Array<Array<string | number>> = [
      ['measure (ms)', 'c=1 p50', 'c=1 p99', `c=${CONCURRENCY} p50`, `c=${CONCURRENCY} p99`],
    ];
    const row = (label: string, x: { p50: number; p99: number }, y: { p50: number; p99: number }) =>
      rows.push([label, x.p50, x.p99, y.p50, y.p99]);
    row('total (client-measured)', seq.totalMs, run.totalMs);
    row('render (inside isolate)', seq.renderMs, run.renderMs);
    row('overhead = total − render', seq.overheadMs, run.overheadMs);
    row('bare NATS round trip (baseline)', bare1, bare);
    rows.push(['ratio overhead p50 / bare NATS p50', ratio1, '', ratio, '']);
    console.log(table(rows));
    console.log('');
    for (const r of [seq, run]) {
      const st = r.stagesP50;
      console.log(
        `c=${r.concurrency}: ${r.requests} requests, ${r.rps} req/s, non-200 ${r.non200}; overhead p50 by stage (server-timing): ` +
          `shield ${st.shield}, transport (both NATS hops) ${st.transport}, scheduler ${st.scheduler}, ` +
          `worker outside render ${st.workerOutsideRender} (queue ${st.queue}), client + HTTP outside the shield ${st.clientAndHttp}`,
      );
    }
    console.log(
      `renders per worker: warm-up ${warmedPerWorker.join(' / ')}, c=${CONCURRENCY} run ${perWorker.join(' / ')}; response ${replyBytes} B; bare NATS ${bare1.rps} req/s at c=1, ${bare.rps} req/s at c=${CONCURRENCY}`,
    );
    if (perWorker.some((n) => n < run.requests * 0.1)) {
      console.log(
        'warning: one worker took almost none of the load (the scheduler prefers a warm worker over a less loaded one)',
      );
    }
    console.log(
      `summary: at ${CONCURRENCY} in flight the miss path costs ${run.overheadMs.p50} ms p50 (${run.overheadMs.p99} ms p99) on top of a ` +
        `${run.renderMs.p50} ms render = ${ratio}× a bare NATS round trip (${bare.p50} ms); ${run.rps} req/s, ${run.non200} non-200 ` +
        `(sequential: ${seq.overheadMs.p50} ms = ${ratio1}× ${bare1.p50} ms)`,
    );
    const result = {
      bench: 'miss-path',
      mode: 'processes',
      responseBytes: replyBytes,
      ...run,
      perWorkerRenders: perWorker,
      warmupPerWorkerRenders: warmedPerWorker,
      bareNatsMs: bare,
      ratio,
      sequential: { ...seq, bareNatsMs: bare1, ratio: ratio1 },
    };
    printResult(result);
    return result;
  } finally {
    await Promise.all(roles.map((r) => r.child.kill('SIGTERM')));
    await nats?.stop();
    // In this process: left open, it would keep the bench from exiting.
    await api?.close();
    process.off('exit', removeDir);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`miss-path failed: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  }
}
