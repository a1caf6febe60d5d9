/**
 * Part 2 of the shield-cache bench, coalescing: bursts of concurrent misses
 * on a few cold keys through the caching shield (a purge before each later
 * round) and through the `--no-cache` shield, counting the renders the
 * workers did (`flotilla_worker_renders_total`) and how each request was
 * answered.
 *
 * @module
 */
import { Agent } from 'node:http';
import { type PurgeConnection, purgeFleet } from '@flotilla/cli';
import { type HttpReply, httpRequest, metricValue, type RoleProcess } from '@flotilla/test-harness';
import { CLIENTS, HEADERS, KEYS, ROUNDS } from './shield-cache-settings.ts';
import { now, p50p99, round, table } from './stats.ts';

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

/** Every burst of one shield, summed up. */
export interface CoalesceFigures {
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

/** What {@link runCoalescing} measured. */
export interface Coalescing {
  /** The bursts through the caching shield. */
  cached: Burst[];
  /** The bursts through the `--no-cache` shield. */
  baseline: Burst[];
  /** How long each purge took until every shield acknowledged, ms. */
  purges: number[];
  withCache: CoalesceFigures;
  noCache: CoalesceFigures;
}

/** Renders of every outcome so far, summed over the workers. */
async function renders(workers: RoleProcess[]): Promise<number> {
  const each = await Promise.all(
    workers.map((w) => metricValue(w.url, 'flotilla_worker_renders_total')),
  );
  return each.reduce((n, x) => n + x, 0);
}

/** `GET base path` on `agent`, with the bench's request headers. */
function get(base: string, path: string, agent: Agent): Promise<HttpReply> {
  return httpRequest(base, path, {
    agent,
    headers: Object.fromEntries(HEADERS),
    timeoutMs: 15_000,
  });
}

async function burst(base: string, workers: RoleProcess[]): Promise<Burst> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS, maxFreeSockets: CLIENTS });
  try {
    // Open every connection first, so that the burst is CLIENTS requests at once.
    await Promise.all(Array.from({ length: CLIENTS }, () => get(base, '/healthz', agent)));
    const before = await renders(workers);
    const t = now();
    const answers = await Promise.all(
      Array.from({ length: CLIENTS }, (_, j) =>
        get(base, `/react-shop/p/${(j % KEYS) + 1}?variant=large&ref=c${j}`, agent),
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
      const cs = a.headers['cache-status'] ?? '';
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

/**
 * Prints what part 2 does, warms the detail route on both workers through
 * both shields, then runs {@link ROUNDS} bursts through the caching shield
 * (purging `/p/:id` over `nc` before each later one) and as many through
 * the `--no-cache` shield.
 */
export async function runCoalescing(
  nc: PurgeConnection,
  shield: RoleProcess,
  noCacheShield: RoleProcess,
  workers: RoleProcess[],
): Promise<Coalescing> {
  console.log('');
  console.log(
    `2. coalescing: ${CLIENTS} clients at once → GET /react-shop/p/<1..${KEYS}>?variant=large&ref=c<client> ` +
      `(key keeps only variant: ${KEYS} cold keys, ${CLIENTS / KEYS} requests each), ${ROUNDS} rounds; renders from the workers' flotilla_worker_renders_total`,
  );
  // Warm the detail route on both workers through both shields (a product outside the keys).
  await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      httpRequest(
        (i % 2 === 0 ? shield : noCacheShield).url,
        '/react-shop/p/120?variant=standard',
        {
          headers: Object.fromEntries(HEADERS),
          timeoutMs: 15_000,
        },
      ),
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
  return {
    cached,
    baseline,
    purges,
    withCache: coalesceFigures(cached),
    noCache: coalesceFigures(baseline),
  };
}

/** Prints part 2's table, the per-round renders and statuses, and why refusals happen. */
export function reportCoalescing(c: Coalescing): void {
  const { withCache, noCache } = c;
  const rows: Array<Array<string | number>> = [
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
    rows.push([
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
  console.log(table(rows));
  console.log(
    `per round, renders with the cache: ${c.cached.map((b) => b.renders).join(' ')}; without: ${c.baseline.map((b) => b.renders).join(' ')}; ` +
      `statuses with: ${JSON.stringify(withCache.statuses)}, without: ${JSON.stringify(noCache.statuses)}; purge p50 ${round(p50p99(c.purges).p50, 0)} ms`,
  );
  if (noCache.non200 > 0) {
    console.log(
      `note: without the cache, ${noCache.non200} of ${noCache.requests} requests were refused (${JSON.stringify(noCache.statuses)}: the schedulers queue at most 64 misses each; 2 workers × 4 slots)`,
    );
  }
}
