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
import { mkdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { connectNats } from '@flotilla/fleet';
import { type Fleet, freePort } from '@flotilla/test-harness';
import { startShopFleet } from './bench-fleet.ts';
import { benchTempDir, hardTimeout, runBench } from './bench-process.ts';
import { reportCoalescing, runCoalescing } from './coalescing.ts';
import { pinApart, pinningUnavailable } from './cpu-pin.ts';
import { type ProfiledProcess, printProfiles } from './cpu-profile.ts';
import { reportHits } from './hit-report.ts';
import {
  checkSameHits,
  figures,
  hitSides,
  hitThroughput,
  type NamedNginx,
} from './hit-throughput.ts';
import { header } from './http-get.ts';
import { HttpLoad } from './http-load.ts';
import { findNginx, startNginx } from './nginx.ts';
import { type NodeHttpReference, startNodeHttpReference } from './node-http-reference.ts';
import { groupPids } from './proc-stat.ts';
import {
  ACCEPT_ENCODING,
  ANY,
  CLIENTS,
  CONNECTIONS,
  CPU_PROF_DIR,
  KEYS,
  LISTING,
  LOAD_THREADS,
  PIN,
  SCHEDULERS,
  SECONDS,
  SLICE_WARMUP_MS,
  SLICES,
  WITH_NGINX2,
  WITH_NODE_REF,
  WORKERS,
} from './shield-cache-settings.ts';
import { now, printResult, round } from './stats.ts';

function skipped(reason: string): Record<string, unknown> {
  console.log(`shield-cache: ${reason}`);
  const result = { bench: 'shield-cache', skipped: true, reason };
  printResult(result);
  return result;
}

/** `<BENCH_SHIELD_CPU_PROF>/<name>`, created. */
function profDir(name: string): string {
  const d = join(CPU_PROF_DIR ?? '', name);
  mkdirSync(d, { recursive: true });
  return d;
}

/** nginx `proxy_cache` in front of the caching shield (1 worker; 2 workers unless skipped). */
async function startNginxes(bin: string, dir: string, shieldUrl: string, into: NamedNginx[]) {
  // It caches the shield's own bytes.
  const origin = new URL(shieldUrl).host;
  const specs = [{ name: 'nginx proxy_cache, 1 worker', workers: 1 }];
  if (WITH_NGINX2) {
    specs.push({ name: 'nginx proxy_cache, 2 workers (reference, unpinned)', workers: 2 });
  }
  for (const [i, spec] of specs.entries()) {
    into.push({
      name: spec.name,
      nginx: await startNginx({
        bin,
        dir: join(dir, `nginx-${i}`),
        workers: spec.workers,
        port: await freePort(),
        origin,
      }),
    });
  }
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
  // Removed also when the hard timeout or a signal ends the process (nginx.ts
  // stops nginx at exit; the test harness SIGKILLs the fleet processes it
  // started on exit and on signals).
  const dir = await benchTempDir('shield');
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`shield-cache: ${signal}, stopping\n`);
    process.exit(1); // runs the 'exit' hooks: nginx, temp dir, harness children
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let fleet: Fleet | undefined;
  let load: HttpLoad | undefined;
  let nc: Awaited<ReturnType<typeof connectNats>> | undefined;
  const nginxes: NamedNginx[] = [];
  let nodeRef: NodeHttpReference | undefined;
  let result: Record<string, unknown> | undefined;
  /** Processes profiled with --cpu-prof: where, and when their load ran. */
  const profiled: ProfiledProcess[] = [];
  try {
    const setupStarted = now();
    fleet = await startShopFleet({
      shields: 0,
      schedulers: SCHEDULERS,
      workers: WORKERS,
      cache: true,
    });
    const [shield, noCacheShield] = await Promise.all([
      fleet.add(
        'shield',
        CPU_PROF_DIR
          ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir('shield')}` } }
          : {},
      ),
      fleet.add('shield', { args: ['--no-cache'] }),
    ]);
    nc = await connectNats(fleet.nats.url, 'bench-shield-cache');
    await startNginxes(nginxBin, dir.path, shield.url, nginxes);
    load = await HttpLoad.start(LOAD_THREADS);
    const setupMs = now() - setupStarted;

    // Warm and check: the listing rendered once, then a hit on every side, same bytes.
    const hit = await checkSameHits(shield.url, nginxes);
    if (WITH_NODE_REF) {
      const cpuProfDir = CPU_PROF_DIR ? profDir('node-http') : undefined;
      nodeRef = await startNodeHttpReference(hit, dir.path, cpuProfDir);
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
    let unpin = () => {};
    if (cannotPin === undefined) {
      const [nginx1] = nginxes;
      unpin = pinApart([
        shield.child.pid,
        ...(nodeRef ? [nodeRef.child.pid] : []),
        ...(nginx1 ? groupPids(nginx1.nginx.pid) : []),
      ]);
    }
    console.log(
      cannotPin === undefined
        ? '  CPU pinning: the shield, nginx (1 worker) and node:http on CPU 1, the load generator on CPU 0 (BENCH_SHIELD_PIN=0: off)'
        : `  CPU pinning: off (${cannotPin})`,
    );
    const sides = hitSides(shield, nginxes, nodeRef);
    try {
      await hitThroughput(load, sides);
    } finally {
      unpin();
    }
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
    const hits = reportHits(sides, figs, WITH_NGINX2, nodeRef !== undefined);
    const { shield: shieldFig, nginx1: nginx1Fig, nginx2: nginx2Fig, ratio, cpuRatio } = hits;

    // 2. Coalescing.
    const coalescing = await runCoalescing(nc, shield, noCacheShield, fleet.started.worker);
    reportCoalescing(coalescing);
    const { withCache, noCache } = coalescing;

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
      sliceRatios: hits.sliceRatios,
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
        ...(hits.nodeHttp ? { nodeHttp: hits.nodeHttp, shieldOverNodeHttp: hits.nodeRatio } : {}),
      },
      coalescing: { clients: CLIENTS, keysPerRound: KEYS, cache: withCache, noCache },
      warnings: hits.warnings,
      loadAverage: { before: loadBefore, after: round(loadavg()[0] ?? Number.NaN, 2) },
      seconds,
    };
  } finally {
    await load?.close();
    await nc?.close().catch(() => {});
    for (const { nginx } of nginxes) await nginx.stop();
    await nodeRef?.child.kill('SIGTERM');
    await fleet?.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await dir.remove();
  }
  await printProfiles(profiled);
  printResult(result);
  return result;
}

if (import.meta.main) await runBench('shield-cache', main);
