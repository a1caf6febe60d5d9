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
import { connectNats } from '@flotilla/fleet';
import {
  encodeRenderRequest,
  encodeRenderResult,
  nextTraceparent,
  type WireMessage,
} from '@flotilla/protocol';
import { type Fleet, metricValue } from '@flotilla/test-harness';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { startShopFleet } from './bench-fleet.ts';
import { hardTimeout, runBench } from './bench-process.ts';
import { drive } from './load-loop.ts';
import { mean, now, p50p99, printResult, round, table } from './stats.ts';

const REQUESTS = Number(process.env.BENCH_MISS_REQUESTS) || 5000;
const SEQUENTIAL = Number(process.env.BENCH_MISS_SEQUENTIAL) || 1000;
const CONCURRENCY = Number(process.env.BENCH_MISS_CONCURRENCY) || 8;
const WARMUP = 400;
const LOAD_CAP_MS = 30_000;
const WORKERS = 2;
const SCHEDULERS = 2;
/** piscina threads per worker (the harness's `startRoleProcess` default). */
const THREADS_PER_WORKER = 1;

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

/** `flotilla_worker_renders_total{outcome="ok"}` of each worker. */
function workerRenders(workers: readonly { url: string }[]): Promise<number[]> {
  return Promise.all(
    workers.map((w) => metricValue(w.url, 'flotilla_worker_renders_total', { outcome: 'ok' })),
  );
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
    await drive({ total: 500, concurrency: CONCURRENCY, durationMs: 10_000 }, request); // warm-up
    const out: BareRun[] = [];
    for (const [total, concurrency] of runs) {
      const limits = { total, concurrency, durationMs: LOAD_CAP_MS };
      const { results, elapsedMs } = await drive(limits, async (i) => {
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
  const load = await drive({ total, concurrency, durationMs: LOAD_CAP_MS }, (i) =>
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
  let fleet: Fleet | undefined;
  try {
    const setupStarted = now();
    // This bench measures misses: the shield runs with --no-cache, every request reaches a worker.
    fleet = await startShopFleet({ shields: 1, schedulers: SCHEDULERS, workers: WORKERS });
    const workers = fleet.started.worker;
    const base = `${fleet.shield.url}/react-shop`;
    const setupMs = now() - setupStarted;

    const mode = `separate OS processes: 1 shield, ${SCHEDULERS} schedulers, ${WORKERS} workers × ${THREADS_PER_WORKER} piscina thread, real nats-server`;
    console.log(`miss-path: GET /react-shop/p/<1..120> through the shield (${mode})`);
    console.log(
      `  node ${process.version}; setup ${Math.round(setupMs)} ms; warm-up ${WARMUP} requests, then ${SEQUENTIAL} requests at 1 in flight and ${REQUESTS} at ${CONCURRENCY} (global fetch, keep-alive)`,
    );

    // Warm-up: JIT everywhere, isolates on both workers, keep-alive sockets.
    // It starts with CONCURRENCY renders at once while every worker is cold,
    // so the schedulers (warm worker first, then least loaded) spread them.
    const warmLimits = { total: WARMUP, concurrency: CONCURRENCY, durationMs: 20_000 };
    const warm = await drive(warmLimits, (i) => get(`${base}/p/${(i % 120) + 1}`));
    const okWarm = warm.results.filter((s) => s.status === 200);
    if (okWarm.length === 0) {
      throw new Error(
        `no warm-up request succeeded (statuses ${warm.results
          .map((s) => s.status)
          .slice(0, 10)
          .join(', ')})`,
      );
    }
    const warmedPerWorker = await workerRenders(workers);
    const replyBytes = Math.round(mean(okWarm.map((s) => s.bytes)));

    // Baseline, same run, same server: bare NATS at 1 and at CONCURRENCY in flight.
    const [bare1, bare] = await bareNats(fleet.nats.url, replyBytes, [
      [SEQUENTIAL, 1],
      [REQUESTS, CONCURRENCY],
    ]);
    if (!bare1 || !bare) throw new Error('bare NATS runs missing');

    // The measured loads: sequential (the path's own cost), then CONCURRENCY in flight.
    const seq = await loadPath(base, SEQUENTIAL, 1);
    const before = await workerRenders(workers);
    const run = await loadPath(base, REQUESTS, CONCURRENCY);
    const after = await workerRenders(workers);
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
    // The products API runs in this process: left open, it would keep the bench from exiting.
    await fleet?.stop();
  }
}

if (import.meta.main) await runBench('miss-path', main);
