/**
 * Shield cache: hit throughput against nginx `proxy_cache`, and coalescing
 * under a burst of misses.
 *
 * A real nats-server (JetStream), the products API (in-process), the
 * examples published into the JetStream control plane, and the fleet as
 * separate OS processes: 2 workers × 1 piscina thread, 2 schedulers, a shield
 * with its L2 cache, and a second shield started with `--no-cache`.
 *
 * 1. Hit throughput. The React listing `/react-shop/` (edge maxAge 60 s,
 *    ~44 KB) is rendered once and then served from the shield's cache.
 *    Baseline, same run, same machine: nginx (Debian `nginx`, a generated
 *    config in a temp dir, `worker_processes 1`: the shield is one Node
 *    process) with `proxy_cache` in front of the shield, so both serve the
 *    very same bytes (checked); `worker_processes 2` is measured for
 *    reference. One closed-loop load generator (raw keep-alive sockets in a
 *    worker thread of the bench, `BENCH_SHIELD_CONNECTIONS` connections)
 *    drives each side in turn, in alternating slices; every response must
 *    be a hit (`Cache-Status: flotilla; hit` / `X-Nginx-Cache: HIT`).
 *    On a machine with 2 or more CPUs and `taskset`, the servers compared
 *    (the shield, nginx with 1 worker, the node:http reference) are pinned
 *    to CPU 1 and the bench process, whose thread generates the load, to
 *    CPU 0, for this part only: each side then gets one CPU of its own,
 *    as one nginx worker or one Node process can use, and the kernel does
 *    not move the server onto the generator's CPU (see `cpu-pin.ts`).
 *    The 2-worker nginx row is left unpinned. `BENCH_SHIELD_PIN=0` turns
 *    pinning off.
 *    Ratio = shield req/s ÷ nginx (1 worker) req/s. The CPU time each server
 *    and the generator used is read from `/proc`, to show which one was the
 *    limit, and gives a second, generator-independent ratio: nginx CPU per
 *    request ÷ shield CPU per request.
 * 2. Coalescing. `BENCH_COALESCE_CLIENTS` clients (on connections opened
 *    beforehand) send at once `GET /react-shop/p/<i>?variant=large&ref=c<j>`
 *    for `BENCH_COALESCE_KEYS` products: the route's key keeps only
 *    `variant`, so there are that many distinct cold keys. Renders are read
 *    from the workers' `flotilla_worker_renders_total`. Repeated for
 *    `BENCH_COALESCE_ROUNDS` rounds, with a purge (`purgeFleet`, over NATS)
 *    before each later round. Baseline: the same bursts through the
 *    `--no-cache` shield (every request renders).
 *    Coalescing ratio = 1 − renders ÷ requests answered (ideal with the
 *    cache: 1 − keys ÷ requests; 0 without it).
 *
 * Without nginx the bench prints how to install it and a RESULT saying it
 * was skipped, and exits 0.
 *
 * Run: node bench/src/run-all.ts shield-cache
 * Env: BENCH_SHIELD_SECONDS (measured seconds per side, default 5),
 *      BENCH_SHIELD_CONNECTIONS (default 64), BENCH_SHIELD_LOAD_THREADS (default 1),
 *      BENCH_SHIELD_NGINX2=0 (skip the 2-worker nginx row), BENCH_SHIELD_PIN=0 (no CPU pinning),
 *      BENCH_SHIELD_ACCEPT_ENCODING (e.g. `gzip, deflate, br`: hits of the compressed variant),
 *      BENCH_COALESCE_CLIENTS (default 200), BENCH_COALESCE_KEYS (default 20),
 *      BENCH_COALESCE_ROUNDS (default 5),
 *      BENCH_SHIELD_CPU_PROF=<dir> (profile the caching shield with --cpu-prof
 *      and print where its time went), BENCH_NGINX (path of nginx).
 *
 * @module
 */
import { mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { purgeFleet } from '@flotilla/cli';
import { publishExamples } from '@flotilla/demo';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { type ProductsApi, startProductsApi } from '@flotilla/example-products-api';
import { connectNats } from '@flotilla/fleet';
import {
  type ChildHandle,
  freePort,
  type NatsServerHandle,
  type RoleProcess,
  spawnProcess,
  startNatsServer,
  startRoleProcess,
} from '@flotilla/test-harness';
import { cpusOf, pinningUnavailable, pinProcess } from './cpu-pin.ts';
import { type ProfileWindow, summarizeCpuProfile } from './cpu-profile.ts';
import { HttpLoad, type LoadResult } from './http-load.ts';
import { findNginx, killAllNginx, type RunningNginx, startNginx } from './nginx.ts';
import { groupPids, machineCpuMs, processCpuMs } from './proc-stat.ts';
import { hardTimeout, now, p50p99, printResult, round, table } from './stats.ts';

const SECONDS = Number(process.env.BENCH_SHIELD_SECONDS) || 5;
const CONNECTIONS = Number(process.env.BENCH_SHIELD_CONNECTIONS) || 64;
const LOAD_THREADS = Number(process.env.BENCH_SHIELD_LOAD_THREADS) || 1;
const WITH_NGINX2 = process.env.BENCH_SHIELD_NGINX2 !== '0';
const WITH_NODE_REF = process.env.BENCH_SHIELD_NODE_REF !== '0';
const PIN = process.env.BENCH_SHIELD_PIN !== '0';
const SLICES = 2; // per side, alternating (A B C C B A)
const SLICE_WARMUP_MS = 300;
const CLIENTS = Number(process.env.BENCH_COALESCE_CLIENTS) || 200;
const KEYS = Math.min(100, Number(process.env.BENCH_COALESCE_KEYS) || 20);
const ROUNDS = Number(process.env.BENCH_COALESCE_ROUNDS) || 5;
const CPU_PROF_DIR = process.env.BENCH_SHIELD_CPU_PROF;
const REGION = 'bench';
const WORKERS = 2;
const SCHEDULERS = 2;
const LISTING = '/react-shop/';
/** `accept-encoding` of the hit test's requests; none (identity bodies) unless set. */
const ACCEPT_ENCODING = process.env.BENCH_SHIELD_ACCEPT_ENCODING ?? '';
/** The same request headers for every side. */
const HEADERS: Array<[string, string]> = [
  ['user-agent', 'flotilla-bench'],
  ['accept', 'text/html'],
  ...(ACCEPT_ENCODING ? [['accept-encoding', ACCEPT_ENCODING] as [string, string]] : []),
];
const SHIELD_HIT = String.raw`\r\ncache-status: flotilla; hit; ttl=\d`;
const NGINX_HIT = String.raw`\r\nx-nginx-cache: HIT`;
/** Every response of the plain node:http reference is "a hit": it only ever sends the copy. */
const ANY = String.raw`^HTTP/1\.1 200`;

/**
 * The reference for what Node's HTTP stack alone costs: a node:http server
 * in a process of its own that answers every request with the same status,
 * headers and body as the shield's hit, from memory.
 */
const NODE_REF_SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const body = fs.readFileSync(process.env.BENCH_BODY);
const headers = JSON.parse(process.env.BENCH_HEADERS);
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => console.log('ready ' + server.address().port));
process.on('SIGTERM', () => process.exit(0)); // writes a --cpu-prof profile
`;

/** A whole response, read with node:http (headers exactly as given, no decoding). */
interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ms: number;
}

function get(url: string, agent?: Agent, headers = HEADERS): Promise<Got> {
  return new Promise((resolve, reject) => {
    const t = now();
    const req = httpRequest(
      url,
      { headers: Object.fromEntries(headers), agent: agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ms: now() - t,
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const header = (g: Got, name: string): string => {
  const v = g.headers[name];
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
};

/** Waits until every scheduler knows `workers` live workers. */
async function waitForWorkers(schedulers: RoleProcess[], workers: number, timeoutMs: number) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const seen = await Promise.all(
      schedulers.map(async (s) => {
        try {
          const h = (await (await fetch(`${s.url}/healthz`)).json()) as { liveWorkers?: number };
          return h.liveWorkers ?? 0;
        } catch {
          return 0;
        }
      }),
    );
    if (seen.every((n) => n >= workers)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`schedulers did not see ${workers} workers within ${timeoutMs} ms`);
}

/** Renders of every outcome so far, summed over the workers (`flotilla_worker_renders_total`). */
async function renders(workers: RoleProcess[]): Promise<number> {
  let sum = 0;
  for (const w of workers) {
    const text = await (await fetch(`${w.url}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith('flotilla_worker_renders_total{')) {
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
    }
  }
  return sum;
}

// ---------------------------------------------------------------- part 1

/** One side of the hit-throughput comparison. */
interface Side {
  name: string;
  port: number;
  hitPattern: string;
  cpuMs: () => number;
  runs: LoadResult[];
  serverCpuMs: number;
  /** CPU time of the whole machine in its windows (all CPUs), ms. */
  machineBusyMs: number;
  /** When its load ran, on the monotonic clock (for the CPU profile). */
  windows: ProfileWindow[];
}

/** Figures of one side, over all its slices. */
interface SideFigures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  hitRatio: number;
  non200: number;
  errors: number;
  reconnects: number;
  bytesPerResponse: number;
  /** Server CPU, share of one core. */
  serverCpu: number;
  serverCpuUsPerRequest: number;
  /** Load-generator CPU, share of one core (all its threads). */
  loadGenCpu: number;
  /** CPU used by everything else on the machine (other processes, interrupts), in cores. */
  otherCpu: number;
  firstError?: string;
}

function figures(side: Side): SideFigures {
  const windowMs = side.runs.reduce((n, r) => n + r.windowMs, 0);
  const requests = side.runs.reduce((n, r) => n + r.requests, 0);
  const all = new Float64Array(requests);
  let at = 0;
  for (const r of side.runs) {
    all.set(r.latencies, at);
    at += r.latencies.length;
  }
  const lat = p50p99(Array.from(all));
  const sum = (f: (r: LoadResult) => number) => side.runs.reduce((n, r) => n + f(r), 0);
  const firstError = side.runs.find((r) => r.firstError)?.firstError;
  return {
    rps: round((requests / windowMs) * 1000, 0),
    p50: lat.p50,
    p99: lat.p99,
    requests,
    hitRatio: requests === 0 ? 0 : round(sum((r) => r.hits) / requests, 4),
    non200: sum((r) => r.non200),
    errors: sum((r) => r.errors),
    reconnects: sum((r) => r.reconnects),
    bytesPerResponse: requests === 0 ? 0 : Math.round(sum((r) => r.bytes) / requests),
    serverCpu: round(side.serverCpuMs / windowMs, 2),
    serverCpuUsPerRequest: requests === 0 ? 0 : round((side.serverCpuMs * 1000) / requests, 1),
    loadGenCpu: round(sum((r) => r.cpuMs) / windowMs, 2),
    otherCpu: round(
      Math.max(0, side.machineBusyMs - side.serverCpuMs - sum((r) => r.cpuMs)) / windowMs,
      2,
    ),
    ...(firstError ? { firstError } : {}),
  };
}

async function hitThroughput(
  load: HttpLoad,
  shield: RoleProcess,
  nginxes: Array<{ name: string; nginx: RunningNginx }>,
  nodeRef: ChildHandle | undefined,
  nodeRefPort: number,
): Promise<{ sides: Side[] }> {
  const shieldPort = Number(new URL(shield.url).port);
  const sides: Side[] = [
    {
      name: 'shield (1 Node process)',
      port: shieldPort,
      hitPattern: SHIELD_HIT,
      cpuMs: () => processCpuMs(shield.child.pid),
      runs: [],
      serverCpuMs: 0,
      machineBusyMs: 0,
      windows: [],
    },
    ...nginxes.map(({ name, nginx }) => ({
      name,
      port: nginx.port,
      hitPattern: NGINX_HIT,
      cpuMs: () => nginx.cpuMs(),
      runs: [],
      serverCpuMs: 0,
      machineBusyMs: 0,
      windows: [],
    })),
  ];
  if (nodeRef) {
    sides.push({
      name: 'plain node:http, same bytes (reference)',
      port: nodeRefPort,
      hitPattern: ANY,
      cpuMs: () => processCpuMs(nodeRef.pid),
      runs: [],
      serverCpuMs: 0,
      machineBusyMs: 0,
      windows: [],
    });
  }
  const sliceMs = (SECONDS * 1000) / SLICES;
  for (let slice = 0; slice < SLICES; slice++) {
    const order = slice % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      // Server CPU over warm-up + window, scaled to the window (steady load throughout).
      const cpu0 = side.cpuMs();
      const machine0 = machineCpuMs().busyMs;
      const t0 = now();
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const run = await load.run({
        host: '127.0.0.1',
        port: side.port,
        path: LISTING,
        headers: HEADERS,
        connections: CONNECTIONS,
        warmupMs: SLICE_WARMUP_MS,
        durationMs: sliceMs,
        hitPattern: side.hitPattern,
      });
      const elapsed = now() - t0;
      side.windows.push({ fromUs, toUs: Number(process.hrtime.bigint() / 1000n) });
      side.serverCpuMs += ((side.cpuMs() - cpu0) * sliceMs) / elapsed;
      side.machineBusyMs += ((machineCpuMs().busyMs - machine0) * sliceMs) / elapsed;
      side.runs.push(run);
    }
  }
  return { sides };
}

// ---------------------------------------------------------------- part 2

/** One burst of misses. */
interface Burst {
  requests: number;
  renders: number;
  leaders: number;
  followers: number;
  hits: number;
  non200: number;
  statuses: Record<string, number>;
  latencies: number[];
  ms: number;
}

async function burst(base: string, workers: RoleProcess[]): Promise<Burst> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS, maxFreeSockets: CLIENTS });
  try {
    // Open every connection first, so that the burst is CLIENTS requests at once.
    await Promise.all(Array.from({ length: CLIENTS }, () => get(`${base}/healthz`, agent)));
    const before = await renders(workers);
    const t = now();
    const answers = await Promise.all(
      Array.from({ length: CLIENTS }, (_, j) =>
        get(`${base}/react-shop/p/${(j % KEYS) + 1}?variant=large&ref=c${j}`, agent),
      ),
    );
    const ms = now() - t;
    const after = await renders(workers);
    const statuses: Record<string, number> = {};
    let leaders = 0;
    let followers = 0;
    let hits = 0;
    for (const a of answers) {
      statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      const cs = header(a, 'cache-status');
      if (/; hit\b/.test(cs)) hits++;
      else if (/; collapsed\b/.test(cs)) followers++;
      else if (/fwd=uri-miss/.test(cs)) leaders++;
    }
    return {
      requests: answers.length,
      renders: after - before,
      leaders,
      followers,
      hits,
      non200: answers.filter((a) => a.status !== 200).length,
      statuses,
      latencies: answers.map((a) => a.ms),
      ms,
    };
  } finally {
    agent.destroy();
  }
}

interface CoalesceFigures {
  rounds: number;
  requests: number;
  keys: number;
  renders: number;
  rendersPerKey: number;
  /** Requests answered 200. */
  answered: number;
  /** 1 − renders ÷ requests answered: the share of answers that cost no render. */
  coalescing: number;
  leaders: number;
  followers: number;
  hits: number;
  non200: number;
  statuses: Record<string, number>;
  p50: number;
  p99: number;
  burstMsP50: number;
}

function coalesceFigures(bursts: Burst[]): CoalesceFigures {
  const sum = (f: (b: Burst) => number) => bursts.reduce((n, b) => n + f(b), 0);
  const requests = sum((b) => b.requests);
  const rendered = sum((b) => b.renders);
  const statuses: Record<string, number> = {};
  for (const b of bursts) {
    for (const [k, v] of Object.entries(b.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  }
  const lat = p50p99(bursts.flatMap((b) => b.latencies));
  return {
    rounds: bursts.length,
    requests,
    keys: KEYS * bursts.length,
    renders: rendered,
    rendersPerKey: round(rendered / (KEYS * bursts.length), 2),
    answered: requests - sum((b) => b.non200),
    coalescing: round(1 - rendered / Math.max(1, requests - sum((b) => b.non200)), 3),
    leaders: sum((b) => b.leaders),
    followers: sum((b) => b.followers),
    hits: sum((b) => b.hits),
    non200: sum((b) => b.non200),
    statuses,
    p50: lat.p50,
    p99: lat.p99,
    burstMsP50: p50p99(bursts.map((b) => b.ms)).p50,
  };
}

// ---------------------------------------------------------------- main

function skipped(reason: string): Record<string, unknown> {
  console.log(`shield-cache: ${reason}`);
  const result = { bench: 'shield-cache', skipped: true, reason };
  printResult(result);
  return result;
}

/** Runs the bench, prints its tables and the RESULT line, and returns the figures. */
export async function main(): Promise<Record<string, unknown>> {
  const benchStarted = now();
  const loadBefore = round(loadavg()[0] ?? Number.NaN, 2);
  const nginxBin = findNginx();
  if (!nginxBin) {
    return skipped(
      'nginx not found: apt-get install -y nginx (or set BENCH_NGINX to its path); shield-cache skipped',
    );
  }
  hardTimeout('shield-cache', 110_000);
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-shield-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  // Also when the hard timeout or a signal ends the process (the test
  // harness SIGKILLs the fleet processes it started on exit and on signals).
  const onExit = () => {
    killAllNginx();
    removeDir();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`shield-cache: ${signal}, stopping\n`);
    process.exit(1); // runs the 'exit' hooks: nginx, temp dir, harness children
  };
  process.once('exit', onExit);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let nats: NatsServerHandle | undefined;
  let api: ProductsApi | undefined;
  let load: HttpLoad | undefined;
  let nc: Awaited<ReturnType<typeof connectNats>> | undefined;
  const roles: RoleProcess[] = [];
  const nginxes: Array<{ name: string; nginx: RunningNginx }> = [];
  let nodeRef: ChildHandle | undefined;
  let result: Record<string, unknown> | undefined;
  /** Processes profiled with --cpu-prof: where, and when their load ran. */
  const profiled: Array<{
    label: string;
    dir: string;
    windows: ProfileWindow[];
    requests: number;
  }> = [];
  const profDir = (name: string) => {
    const d = join(CPU_PROF_DIR ?? '', name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  try {
    const setupStarted = now();
    nats = await startNatsServer({ jetstream: true });
    api = await startProductsApi({ port: 0 });
    nc = await connectNats(nats.url, 'bench-shield-cache');
    const controlPlane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
    const apps = await publishExamples(controlPlane, () => {}, api.url);
    if (!apps.some((id) => id.startsWith('react-shop-'))) {
      throw new Error('publishExamples did not publish react-shop');
    }
    const storeDir = join(dir, 'store');
    const natsUrl = nats.url;
    const specs: Array<{ role: RoleProcess['role']; args?: string[]; env?: NodeJS.ProcessEnv }> = [
      ...Array.from({ length: WORKERS }, () => ({ role: 'worker' as const })),
      ...Array.from({ length: SCHEDULERS }, () => ({ role: 'scheduler' as const })),
      {
        role: 'shield',
        ...(CPU_PROF_DIR
          ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir('shield')}` } }
          : {}),
      },
      { role: 'shield', args: ['--no-cache'] },
    ];
    const started = await Promise.allSettled(
      specs.map((s) =>
        startRoleProcess({
          role: s.role,
          nats: natsUrl,
          storeDir,
          region: REGION,
          threads: 1,
          args: [...(s.args ?? []), '--log-format', 'json'],
          ...(s.env ? { env: s.env } : {}),
        }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') roles.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [shield, noCacheShield] = roles.filter((r) => r.role === 'shield');
    if (!shield || !noCacheShield) throw new Error('shields missing');
    const workers = roles.filter((r) => r.role === 'worker');
    await waitForWorkers(
      roles.filter((r) => r.role === 'scheduler'),
      WORKERS,
      20_000,
    );

    // nginx in front of the caching shield: it caches the shield's own bytes.
    const origin = new URL(shield.url).host;
    const nginxSpecs = [{ name: 'nginx proxy_cache, 1 worker', workers: 1 }];
    if (WITH_NGINX2) {
      nginxSpecs.push({ name: 'nginx proxy_cache, 2 workers (reference, unpinned)', workers: 2 });
    }
    for (const [i, spec] of nginxSpecs.entries()) {
      nginxes.push({
        name: spec.name,
        nginx: await startNginx({
          bin: nginxBin,
          dir: join(dir, `nginx-${i}`),
          workers: spec.workers,
          port: await freePort(),
          origin,
        }),
      });
    }
    load = await HttpLoad.start(LOAD_THREADS);
    const setupMs = now() - setupStarted;

    // Warm and check: the listing rendered once, then a hit on every side, same bytes.
    const first = await get(`${shield.url}${LISTING}`);
    if (first.status !== 200) {
      throw new Error(`GET ${LISTING}: ${first.status} ${first.body.toString().slice(0, 300)}`);
    }
    const hit = await get(`${shield.url}${LISTING}`);
    if (
      !new RegExp(SHIELD_HIT.slice(4), 'i').test(`cache-status: ${header(hit, 'cache-status')}`)
    ) {
      throw new Error(
        `the shield did not serve ${LISTING} from its cache: cache-status ${header(hit, 'cache-status')}`,
      );
    }
    for (const { name, nginx } of nginxes) {
      await get(`${nginx.url}${LISTING}`);
      const n = await get(`${nginx.url}${LISTING}`);
      if (header(n, 'x-nginx-cache') !== 'HIT') {
        throw new Error(
          `${name}: second GET not a cache hit (X-Nginx-Cache ${header(n, 'x-nginx-cache')})`,
        );
      }
      if (!n.body.equals(hit.body)) {
        throw new Error(
          `${name} serves other bytes than the shield (${n.body.length} vs ${hit.body.length})`,
        );
      }
    }

    let nodeRefPort = 0;
    if (WITH_NODE_REF) {
      const bodyFile = join(dir, 'listing.html');
      await writeFile(bodyFile, hit.body);
      const refHeaders: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(hit.headers)) {
        if (v === undefined || ['date', 'connection', 'keep-alive'].includes(k)) continue;
        refHeaders[k] = v;
      }
      nodeRef = await spawnProcess({
        command: process.execPath,
        args: [
          ...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${profDir('node-http')}`] : []),
          '-e',
          NODE_REF_SERVER,
        ],
        env: { BENCH_BODY: bodyFile, BENCH_HEADERS: JSON.stringify(refHeaders) },
        name: 'node-http-reference',
        readyPattern: /^ready \d+$/,
      });
      nodeRefPort = Number((await nodeRef.waitForLine(/^ready \d+$/)).slice(6));
      const r = await get(`http://127.0.0.1:${nodeRefPort}${LISTING}`);
      if (!r.body.equals(hit.body)) throw new Error('the node:http reference serves other bytes');
    }

    console.log(
      `shield-cache: node ${process.version}, ${availableParallelism()} CPUs, load average ${loadBefore}; setup ${Math.round(setupMs)} ms`,
    );
    console.log(
      `  fleet: separate OS processes, ${WORKERS} workers × 1 piscina thread, ${SCHEDULERS} schedulers, a caching shield and a --no-cache shield, real nats-server`,
    );
    console.log(
      `1. hit throughput: GET ${LISTING} (${hit.body.length} B of HTML, ${header(hit, 'content-encoding') || 'identity'}) — ${CONNECTIONS} keep-alive connections, closed loop, ` +
        `${SECONDS} s per side in ${SLICES} alternating slices (+${SLICE_WARMUP_MS} ms warm-up each); load generator: ` +
        `${load.threads} worker thread(s) of the bench process on raw sockets`,
    );
    // Pinned for part 1 only: the bench process (its load thread) and the servers compared.
    const cannotPin = PIN ? pinningUnavailable() : 'BENCH_SHIELD_PIN=0';
    const shieldPid = shield.child.pid;
    const unpin: Array<() => void> = [];
    if (cannotPin === undefined) {
      for (const pid of [process.pid, shieldPid]) {
        const cpus = cpusOf(pid);
        unpin.push(() => pinProcess(pid, cpus));
      }
      pinProcess(process.pid, '0');
      pinProcess(shieldPid, '1');
      if (nodeRef) pinProcess(nodeRef.pid, '1');
      const [nginx1] = nginxes;
      if (nginx1) for (const pid of groupPids(nginx1.nginx.pid)) pinProcess(pid, '1');
    }
    console.log(
      cannotPin === undefined
        ? '  CPU pinning: the shield, nginx (1 worker) and node:http on CPU 1, the load generator on CPU 0 (BENCH_SHIELD_PIN=0: off)'
        : `  CPU pinning: off (${cannotPin})`,
    );
    let hitRuns: Awaited<ReturnType<typeof hitThroughput>>;
    try {
      hitRuns = await hitThroughput(load, shield, nginxes, nodeRef, nodeRefPort);
    } finally {
      for (const f of unpin) f();
    }
    const { sides } = hitRuns;
    const figs = sides.map((s) => ({ name: s.name, ...figures(s) }));
    if (CPU_PROF_DIR) {
      for (const [i, side] of sides.entries()) {
        const name = i === 0 ? 'shield' : side.hitPattern === ANY ? 'node-http' : undefined;
        if (!name) continue;
        const windowRequests = side.runs.reduce((n, r) => n + r.requests, 0);
        // Per request of the whole load (warm-up included), as the windows are.
        const scale = (SLICE_WARMUP_MS * SLICES + SECONDS * 1000) / (SECONDS * 1000);
        profiled.push({
          label: side.name,
          dir: join(CPU_PROF_DIR, name),
          windows: side.windows,
          requests: Math.round(windowRequests * scale),
        });
      }
    }
    const [shieldFig, nginx1Fig] = figs;
    const nginx2Fig = WITH_NGINX2 ? figs[2] : undefined;
    const nodeFig = nodeRef ? figs.at(-1) : undefined;
    if (!shieldFig || !nginx1Fig) throw new Error('missing figures');
    const rows: Array<Array<string | number>> = [
      [
        'side',
        'req/s',
        'p50 ms',
        'p99 ms',
        'hits',
        'non-200',
        'errors',
        'B/resp',
        'server CPU',
        'CPU µs/req',
        'load-gen CPU',
        'rest of machine',
      ],
    ];
    for (const f of figs) {
      rows.push([
        f.name,
        f.rps,
        f.p50,
        f.p99,
        `${round(f.hitRatio * 100, 2)}%`,
        f.non200,
        f.errors,
        f.bytesPerResponse,
        `${Math.round(f.serverCpu * 100)}%`,
        f.serverCpuUsPerRequest,
        `${Math.round(f.loadGenCpu * 100)}%`,
        `${Math.round(f.otherCpu * 100)}%`,
      ]);
    }
    console.log('');
    console.log(table(rows));
    const ratio = round(shieldFig.rps / nginx1Fig.rps, 2);
    const cpuRatio = round(nginx1Fig.serverCpuUsPerRequest / shieldFig.serverCpuUsPerRequest, 2);
    const nodeRatio = nodeFig ? round(shieldFig.rps / nodeFig.rps, 2) : undefined;
    // Slice i of each side ran next to the other's slice i: their ratios show how steady it was.
    const [shieldSide, nginx1Side] = sides;
    const sliceRatios = (shieldSide?.runs ?? []).map((run, i) => {
      const other = nginx1Side?.runs[i];
      return other
        ? round(run.requests / run.windowMs / (other.requests / other.windowMs), 2)
        : NaN;
    });
    console.log(
      `ratio shield / nginx (1 worker): ${ratio} in req/s (target ≥ 0.7; per slice ${sliceRatios.join(', ')}); ${cpuRatio} in CPU per request (nginx µs/req ÷ shield µs/req)`,
    );
    if (nodeFig) {
      console.log(
        `shield / plain node:http serving the same bytes: ${nodeRatio} in req/s, ${round(nodeFig.serverCpuUsPerRequest / shieldFig.serverCpuUsPerRequest, 2)} in CPU per request (the part of the gap that is Node's HTTP stack)`,
      );
    }
    const limits: string[] = [];
    for (const f of figs) {
      const genSaturated = f.loadGenCpu >= 0.9 * LOAD_THREADS;
      if (genSaturated && f.serverCpu < 0.9) {
        limits.push(
          `${f.name}: the load generator (${Math.round(f.loadGenCpu * 100)}% CPU) was the limit, not the server (${Math.round(f.serverCpu * 100)}%)`,
        );
      }
      if (f.hitRatio < 0.999) limits.push(`${f.name}: only ${round(f.hitRatio * 100, 2)}% hits`);
      if (f.firstError) limits.push(`${f.name}: first error: ${f.firstError}`);
    }
    for (const l of limits) console.log(`warning: ${l}`);

    // 2. Coalescing.
    console.log('');
    console.log(
      `2. coalescing: ${CLIENTS} clients at once → GET /react-shop/p/<1..${KEYS}>?variant=large&ref=c<client> ` +
        `(key keeps only variant: ${KEYS} cold keys, ${CLIENTS / KEYS} requests each), ${ROUNDS} rounds; renders from the workers' flotilla_worker_renders_total`,
    );
    // Warm the detail route on both workers through both shields (a product outside the keys).
    await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        get(`${(i % 2 === 0 ? shield : noCacheShield).url}/react-shop/p/120?variant=standard`),
      ),
    );
    const cached: Burst[] = [];
    const purges: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      if (r > 0) {
        const p = await purgeFleet(nc, { kind: 'path', pattern: '/p/:id', app: 'react-shop' });
        if (p.acked.length === 0 || p.missing.length > 0 || p.failed.length > 0) {
          throw new Error(`purge before round ${r + 1} not acknowledged: ${JSON.stringify(p)}`);
        }
        purges.push(p.ms);
      }
      cached.push(await burst(shield.url, workers));
    }
    const baseline: Burst[] = [];
    for (let r = 0; r < ROUNDS; r++) baseline.push(await burst(noCacheShield.url, workers));
    const withCache = coalesceFigures(cached);
    const noCache = coalesceFigures(baseline);
    const crows: Array<Array<string | number>> = [
      [
        'shield',
        'requests',
        'keys',
        'renders',
        'renders/key',
        'coalescing',
        'leader/follower/hit',
        'answered',
        'refused',
        'p50 ms',
        'p99 ms',
        'burst ms p50',
      ],
    ];
    for (const [name, f] of [
      ['cache on (coalesced)', withCache],
      ['--no-cache (baseline)', noCache],
    ] as const) {
      crows.push([
        name,
        f.requests,
        f.keys,
        f.renders,
        f.rendersPerKey,
        f.coalescing,
        `${f.leaders}/${f.followers}/${f.hits}`,
        f.answered,
        f.non200,
        f.p50,
        f.p99,
        f.burstMsP50,
      ]);
    }
    console.log(table(crows));
    console.log(
      `per round, renders with the cache: ${cached.map((b) => b.renders).join(' ')}; without: ${baseline.map((b) => b.renders).join(' ')}; ` +
        `statuses with: ${JSON.stringify(withCache.statuses)}, without: ${JSON.stringify(noCache.statuses)}; purge p50 ${round(p50p99(purges).p50, 0)} ms`,
    );
    if (noCache.non200 > 0) {
      console.log(
        `note: without the cache, ${noCache.non200} of ${noCache.requests} requests were refused (${JSON.stringify(noCache.statuses)}: the schedulers queue at most 64 misses each; 2 workers × 4 slots)`,
      );
    }

    const seconds = round((now() - benchStarted) / 1000, 1);
    console.log('');
    console.log(
      `summary: shield hits ${shieldFig.rps} req/s (p50 ${shieldFig.p50} ms, p99 ${shieldFig.p99} ms) vs nginx proxy_cache 1 worker ${nginx1Fig.rps} req/s ` +
        `(p50 ${nginx1Fig.p50} ms, p99 ${nginx1Fig.p99} ms)${nginx2Fig ? `, 2 workers ${nginx2Fig.rps} req/s` : ''}: ratio ${ratio} (CPU per request ${cpuRatio}); ` +
        `coalescing ${withCache.coalescing} (${withCache.renders} renders for ${withCache.answered} answers on ${withCache.keys} keys, ${withCache.rendersPerKey} per key, ${withCache.non200} refused) ` +
        `vs ${noCache.coalescing} without the cache (${noCache.renders} renders for ${noCache.answered} answers, ${noCache.non200} refused); ${seconds} s`,
    );
    result = {
      bench: 'shield-cache',
      ratio,
      sliceRatios,
      cpuRatio,
      pinned: cannotPin === undefined,
      acceptEncoding: ACCEPT_ENCODING || 'none',
      connections: CONNECTIONS,
      loadThreads: LOAD_THREADS,
      responseBytes: hit.body.length,
      hits: {
        shield: shieldFig,
        nginx1: nginx1Fig,
        ...(nginx2Fig ? { nginx2: nginx2Fig } : {}),
        ...(nodeFig ? { nodeHttp: nodeFig, shieldOverNodeHttp: nodeRatio } : {}),
      },
      coalescing: { clients: CLIENTS, keysPerRound: KEYS, cache: withCache, noCache },
      warnings: limits,
      loadAverage: { before: loadBefore, after: round(loadavg()[0] ?? Number.NaN, 2) },
      seconds,
    };
  } finally {
    await load?.close();
    await nc?.close().catch(() => {});
    for (const { nginx } of nginxes) await nginx.stop();
    await nodeRef?.kill('SIGTERM');
    await Promise.all(roles.map((r) => r.child.kill('SIGTERM')));
    await nats?.stop();
    await api?.close();
    process.off('exit', onExit);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await rm(dir, { recursive: true, force: true });
  }
  for (const p of profiled) {
    const files = (await readdir(p.dir)).filter((f) => f.endsWith('.cpuprofile'));
    const latest = files.sort().at(-1);
    if (!latest) continue;
    console.log(
      `\nCPU profile of ${p.label} (${join(p.dir, latest)}), samples taken while its load ran (~${p.requests} requests):`,
    );
    console.log(await summarizeCpuProfile(join(p.dir, latest), 30, p.windows, p.requests));
  }
  printResult(result);
  return result;
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`shield-cache failed: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  }
}
