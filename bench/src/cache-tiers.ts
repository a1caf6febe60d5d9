/**
 * Cache tiers: edge shields (L1) in front of global members (L2) that own
 * each key once.
 *
 * A real nats-server (JetStream), the example shops published into its
 * control plane, one scheduler and one worker (1 piscina thread), then
 * `BENCH_TIERS_GLOBALS` global members (`--tier global`) and
 * `BENCH_TIERS_EDGES` edges (`--tier edge`), each its own OS process.
 * Every request carries the same `Host` (the port of a Host is keyed, and
 * each edge listens on its own), as behind one public name.
 *
 * 1. Renders per key. `BENCH_TIERS_CLIENTS` clients (connections opened
 *    beforehand) spread round-robin over the edges send at once
 *    `GET /react-shop/p/<i>?variant=large` for `BENCH_TIERS_KEYS` cold keys.
 *    Renders are read from the worker's `flotilla_worker_renders_total`.
 *    Target: 1 render per key whatever the number of edges and members.
 * 2. Hit latency, sequential on a kept-alive connection: an L1 hit (the
 *    edge's own copy), an L2 hit (a key warmed through another edge: a miss
 *    at this edge, a hit at its owner), against a bare loopback HTTP round
 *    trip (node:http in this process answering a body of the same size).
 * 3. Purge acknowledgement. `BENCH_TIERS_PURGES` purges (by URL) broadcast
 *    on `flotilla.purge`; the time from sending to the last of the
 *    edges + members acks (what `flotilla purge` waits for once it knows the
 *    live shields). Target: p99 ≤ 50 ms (CDN purges commonly take 1–10 s).
 * 4. Routes answered at the edge: redirects and proxied routes per second at
 *    one edge from the manifest, against the same routes written with code
 *    and rendered by the worker (`edge-routes-rate.ts`).
 *
 * Run: node bench/src/run-all.ts cache-tiers
 * Env: BENCH_TIERS_EDGES (default 3), BENCH_TIERS_GLOBALS (default 2),
 *      BENCH_TIERS_CLIENTS (default 300), BENCH_TIERS_KEYS (default 20),
 *      BENCH_TIERS_SAMPLES (hit latency samples, default 300; L2: up to 100),
 *      BENCH_TIERS_PURGES (default 50), BENCH_TIERS_RATE_CONNECTIONS (default 16),
 *      BENCH_TIERS_RATE_MS (per route, default 3000).
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectNats } from '@flotilla/fleet';
import {
  decodePurgeAck,
  encodePurgeRequest,
  PURGE_SUBJECT,
  SHIELD_HEARTBEAT_SUBJECT,
} from '@flotilla/protocol';
import {
  type Fleet,
  type HttpReply,
  httpRequest,
  metricValue,
  type RoleProcess,
  waitFor,
} from '@flotilla/test-harness';
import { startShopFleet } from './bench-fleet.ts';
import { hardTimeout, runBench } from './bench-process.ts';
import { edgeRouteRates } from './edge-routes-rate.ts';
import { now, p50p99, printResult, round, table } from './stats.ts';

function intEnv(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}

const EDGES = intEnv('BENCH_TIERS_EDGES', 3);
const GLOBALS = intEnv('BENCH_TIERS_GLOBALS', 2);
const CLIENTS = intEnv('BENCH_TIERS_CLIENTS', 300);
const KEYS = Math.min(120, intEnv('BENCH_TIERS_KEYS', 20));
const SAMPLES = intEnv('BENCH_TIERS_SAMPLES', 300);
const PURGES = intEnv('BENCH_TIERS_PURGES', 50);
const HOST = '127.0.0.1';
const RENDERS = 'flotilla_worker_renders_total';

/** Waits until every shield sees `n` global members. */
async function membersSeen(shields: RoleProcess[], n: number): Promise<void> {
  await waitFor(
    async () =>
      (
        await Promise.all(
          shields.map((s) => metricValue(s.adminUrl, 'flotilla_shield_tier_members')),
        )
      ).every((m) => m === n),
    { timeoutMs: 30_000, message: `the shields never saw ${n} global members` },
  );
}

function expectOk(r: HttpReply, what: string): void {
  if (r.status !== 200) throw new Error(`${what}: ${r.status} ${r.body.slice(0, 200)}`);
}

/** Part 1: cold keys requested at once over every edge; renders per key. */
async function rendersPerKey(fleet: Fleet, edges: RoleProcess[]) {
  const worker = fleet.live('worker')[0]?.url ?? '';
  const agents = edges.map(
    () => new Agent({ keepAlive: true, maxSockets: CLIENTS, maxFreeSockets: CLIENTS }),
  );
  try {
    // Connections opened beforehand: the burst is requests, not handshakes.
    await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        httpRequest(edges[i % edges.length]?.url ?? '', '/healthz', {
          agent: agents[i % edges.length] as Agent,
        }),
      ),
    );
    const before = await metricValue(worker, RENDERS);
    const started = now();
    const replies = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        httpRequest(
          edges[i % edges.length]?.url ?? '',
          `/react-shop/p/${(i % KEYS) + 1}?variant=large`,
          { host: HOST, agent: agents[i % edges.length] as Agent, timeoutMs: 30_000 },
        ),
      ),
    );
    const ms = now() - started;
    for (const r of replies) expectOk(r, 'burst');
    const renders = (await metricValue(worker, RENDERS)) - before;
    return { requests: CLIENTS, keys: KEYS, renders, rendersPerKey: round(renders / KEYS), ms };
  } finally {
    for (const a of agents) a.destroy();
  }
}

/** Sequential latencies of `n` GETs on one kept-alive connection. */
async function sequential(
  base: string,
  paths: (i: number) => string,
  n: number,
  check: (r: HttpReply) => void,
): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = now();
      const r = await httpRequest(base, paths(i), { host: HOST, agent });
      out.push(now() - t);
      check(r);
    }
    return out;
  } finally {
    agent.destroy();
  }
}

/** Part 2: L1 and L2 hit latency against a bare loopback round trip. */
async function hitLatency(edges: RoleProcess[]) {
  const [a, b] = edges as [RoleProcess, RoleProcess];
  const page = '/react-shop/p/60?variant=standard';
  const warm = await httpRequest(a.url, page, { host: HOST });
  expectOk(warm, 'warm');
  const size = Buffer.byteLength(warm.body);
  const body = Buffer.alloc(size, 'x');
  const bare = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(size) });
    res.end(body);
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  try {
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
    const loopback = await sequential(
      bareUrl,
      () => '/',
      SAMPLES,
      () => {},
    );
    const l1 = await sequential(
      a.url,
      () => page,
      SAMPLES,
      (r) => {
        if (!/^flotilla-edge; hit\b/.test(r.headers['cache-status'] ?? '')) {
          throw new Error(`not an L1 hit: ${r.headers['cache-status']}`);
        }
      },
    );
    // L2: keys warmed through edge A, then asked of edge B (a miss there, a hit at the owner).
    const n = Math.min(SAMPLES, 100);
    const l2Path = (i: number) => `/react-shop/p/${(i % 100) + 1}?variant=standard`;
    for (let i = 0; i < n; i++)
      expectOk(await httpRequest(a.url, l2Path(i), { host: HOST }), 'warm');
    const l2 = await sequential(b.url, l2Path, n, (r) => {
      if (!/^flotilla-global; hit\b/.test(r.headers['cache-status'] ?? '')) {
        throw new Error(`not an L2 hit: ${r.headers['cache-status']}`);
      }
    });
    return { bytes: size, loopback: p50p99(loopback), l1: p50p99(l1), l2: p50p99(l2) };
  } finally {
    await new Promise<void>((resolve) => bare.close(() => resolve()));
  }
}

/** Part 3: purge acknowledgement time across every shield. */
async function purgeAcks(natsUrl: string, shields: number) {
  const nc = await connectNats(natsUrl, 'bench-cache-tiers');
  try {
    // Every shield is live (heard once) before timing starts.
    const heard = new Set<string>();
    const sub = nc.subscribe(SHIELD_HEARTBEAT_SUBJECT);
    void (async () => {
      for await (const m of sub) heard.add(JSON.parse(new TextDecoder().decode(m.data)).shieldId);
    })();
    await waitFor(() => heard.size >= shields, { timeoutMs: 10_000, message: 'heartbeats' });
    sub.unsubscribe();
    const times: number[] = [];
    for (let i = 0; i < PURGES; i++) {
      const purgeId = randomUUID();
      const payload = encodePurgeRequest({
        purgeId,
        selector: { kind: 'url', url: `${HOST}/react-shop/p/${(i % 100) + 1}?variant=standard` },
      });
      const t = now();
      const replies = await nc.requestMany(PURGE_SUBJECT, payload, {
        strategy: 'count',
        maxMessages: shields,
        maxWait: 5000,
      });
      let acked = 0;
      for await (const m of replies) {
        const ack = decodePurgeAck(m.data);
        if (ack.purgeId === purgeId && ack.error === undefined) acked++;
      }
      const ms = now() - t;
      if (acked !== shields) throw new Error(`purge ${i}: ${acked} of ${shields} shields acked`);
      times.push(ms);
    }
    return { shields, purges: PURGES, ...p50p99(times) };
  } finally {
    await nc.close();
  }
}

/** Runs the bench, prints its tables and the RESULT line, and returns the figures. */
export async function main(): Promise<Record<string, unknown>> {
  hardTimeout('cache-tiers', 400_000);
  const fleet = await startShopFleet({ shields: 0, schedulers: 1, workers: 1, cache: true });
  try {
    const globals: RoleProcess[] = [];
    for (let i = 0; i < GLOBALS; i++) {
      globals.push(await fleet.add('shield', { args: ['--tier', 'global'] }));
    }
    const edges: RoleProcess[] = [];
    for (let i = 0; i < EDGES; i++) {
      edges.push(await fleet.add('shield', { args: ['--tier', 'edge'] }));
    }
    await membersSeen([...edges, ...globals], GLOBALS);
    // The isolate loaded once, so part 1 measures coalescing, not a cold start.
    expectOk(await httpRequest(edges[0]?.url ?? '', '/react-shop/', { host: HOST }), 'warm-up');

    const burst = await rendersPerKey(fleet, edges);
    const latency = edges.length >= 2 ? await hitLatency(edges) : undefined;
    const purge = await purgeAcks(fleet.nats.url, EDGES + GLOBALS);
    const rates = await edgeRouteRates(fleet.nats.url, edges[0] as RoleProcess);
    const redirectRatio = round(rates.redirectEdge.perSecond / rates.redirectWorker.perSecond, 1);
    const proxyRatio = round(rates.proxyEdge.perSecond / rates.proxyWorker.perSecond, 1);
    const ms = (n: number) => `${round(n, 2)} ms`;
    console.log(
      table([
        ['cache tiers', `${EDGES} edges × ${GLOBALS} global members`],
        [
          'renders per key (target 1)',
          `${burst.rendersPerKey} (${burst.renders} renders, ${burst.keys} keys, ${burst.requests} requests at once, ${Math.round(burst.ms)} ms)`,
        ],
        ...(latency
          ? [
              [
                'bare loopback HTTP p50 / p99',
                `${ms(latency.loopback.p50)} / ${ms(latency.loopback.p99)} (${latency.bytes} B)`,
              ],
              ['L1 hit (edge) p50 / p99', `${ms(latency.l1.p50)} / ${ms(latency.l1.p99)}`],
              [
                'L2 hit (edge miss, owner hit) p50 / p99',
                `${ms(latency.l2.p50)} / ${ms(latency.l2.p99)}`,
              ],
            ]
          : []),
        [
          `purge acked by all ${purge.shields} p50 / p99 (target p99 ≤ 50 ms)`,
          `${ms(purge.p50)} / ${ms(purge.p99)}`,
        ],
        [
          `redirects/s at the edge vs rendered (${rates.connections} connections)`,
          `${rates.redirectEdge.perSecond} vs ${rates.redirectWorker.perSecond} (×${redirectRatio})`,
        ],
        [
          `proxied/s at the edge vs rendered (${rates.connections} connections)`,
          `${rates.proxyEdge.perSecond} vs ${rates.proxyWorker.perSecond} (×${proxyRatio})`,
        ],
      ]),
    );
    const result = {
      bench: 'cache-tiers',
      edges: EDGES,
      globals: GLOBALS,
      rendersPerKey: burst.rendersPerKey,
      renders: burst.renders,
      keys: burst.keys,
      requests: burst.requests,
      ...(latency
        ? {
            loopbackP50Ms: round(latency.loopback.p50),
            loopbackP99Ms: round(latency.loopback.p99),
            l1HitP50Ms: round(latency.l1.p50),
            l1HitP99Ms: round(latency.l1.p99),
            l2HitP50Ms: round(latency.l2.p50),
            l2HitP99Ms: round(latency.l2.p99),
            l1OverLoopbackP50: round(latency.l1.p50 / latency.loopback.p50),
            l2OverLoopbackP50: round(latency.l2.p50 / latency.loopback.p50),
          }
        : {}),
      purgeAckP50Ms: round(purge.p50),
      purgeAckP99Ms: round(purge.p99),
      redirectsPerSecondEdge: rates.redirectEdge.perSecond,
      redirectsPerSecondWorker: rates.redirectWorker.perSecond,
      redirectEdgeOverWorker: redirectRatio,
      proxiedPerSecondEdge: rates.proxyEdge.perSecond,
      proxiedPerSecondWorker: rates.proxyWorker.perSecond,
      proxyEdgeOverWorker: proxyRatio,
    };
    printResult(result);
    return result;
  } finally {
    await fleet.stop();
  }
}

if (import.meta.main) await runBench('cache-tiers', main);
