/**
 * Part 4 of the cache-tiers bench: redirects and proxied routes per second
 * answered at an edge shield from the manifest (no code, no NATS round trip)
 * against the same routes written with code, which a worker renders.
 *
 * One app, built with the SDK and published into the fleet's control plane:
 * `/edge/r/:id` is `redirect()`, `/edge/p/:id` is `proxy('origin')`; the
 * worker's twins answer the same: `/worker/r/:id` renders the 301,
 * `/worker/p/:id` is a proxy with an (identity) `transformResponse`, which
 * runs in the bundle. Every request has a path of its own and the backend
 * answers `no-store`: nothing is a cache hit, every answer is the route's
 * own work. Closed loop: `BENCH_TIERS_RATE_CONNECTIONS` kept-alive
 * connections to one edge, each sending its next GET when the previous one
 * is answered, for `BENCH_TIERS_RATE_MS` per route.
 *
 * @module
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { connectNats } from '@flotilla/fleet';
import { buildProject } from '@flotilla/sdk/build';
import { httpRequest, type RoleProcess, waitFor } from '@flotilla/test-harness';
import { now, round } from './stats.ts';

function intEnv(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}

const CONNECTIONS = intEnv('BENCH_TIERS_RATE_CONNECTIONS', 16);
const WINDOW_MS = intEnv('BENCH_TIERS_RATE_MS', 3000);
const APP = 'edgebench';
const HOST = `${APP}.localhost`;

/** Inside the repository, so the app's `@flotilla/sdk` resolves through the workspace. */
const APPS_ROOT = fileURLToPath(new URL('../.tmp/', import.meta.url));

const ROUTES = `import { Router } from '@flotilla/sdk';

export default new Router()
  .get('/edge/r/:id', ({ redirect }) => {
    redirect('/new/:id', { statusCode: 301 });
  })
  .get('/edge/p/:id', ({ proxy }) => {
    proxy('origin');
  })
  .get('/worker/r/:id', ({ render }) => {
    render(({ params }) => new Response(null, { status: 301, headers: { location: '/new/' + params.id } }));
  })
  .get('/worker/p/:id', ({ proxy }) => {
    proxy('origin', { transformResponse: (response) => response });
  });
`;

/** Requests per second of one route, and what its answers were. */
interface Rate {
  perSecond: number;
  requests: number;
  statuses: Record<string, number>;
}

/** Closed loop on `base` for `WINDOW_MS`: `path(i)` for the i-th request. */
async function rate(base: string, path: (i: number) => string, status: number): Promise<Rate> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const statuses: Record<string, number> = {};
  let next = 0;
  try {
    const started = now();
    const until = started + WINDOW_MS;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (now() < until) {
          const r = await httpRequest(base, path(next++), { host: HOST, agent, timeoutMs: 30_000 });
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        }
      }),
    );
    const ms = now() - started;
    const requests = Object.values(statuses).reduce((a, b) => a + b, 0);
    if (statuses[status] !== requests) {
      throw new Error(
        `${path(0)}: expected every answer ${status}, got ${JSON.stringify(statuses)}`,
      );
    }
    return { perSecond: round((requests * 1000) / ms, 0), requests, statuses };
  } finally {
    agent.destroy();
  }
}

/** What {@link edgeRouteRates} measured. */
export interface EdgeRouteRates {
  connections: number;
  windowMs: number;
  redirectEdge: Rate;
  redirectWorker: Rate;
  proxyEdge: Rate;
  proxyWorker: Rate;
}

/**
 * Publishes the app (its backend in this process), waits until `edge`
 * serves it, then measures the four routes on `edge` in turn.
 */
export async function edgeRouteRates(natsUrl: string, edge: RoleProcess): Promise<EdgeRouteRates> {
  const backend = createServer((req, res) => {
    const body = JSON.stringify({ url: req.url });
    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'private, no-store',
      'content-length': String(Buffer.byteLength(body)),
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  await mkdir(APPS_ROOT, { recursive: true });
  const dir = await mkdtemp(join(APPS_ROOT, 'edge-rates-'));
  try {
    const origin = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    await mkdir(join(dir, 'src'), { recursive: true });
    await writeFile(
      join(dir, 'flotilla.config.json'),
      JSON.stringify({
        name: APP,
        entry: 'src/routes.ts',
        framework: 'none',
        backends: { origin },
      }),
    );
    await writeFile(join(dir, 'src', 'routes.ts'), ROUTES);
    const { outDir } = await buildProject({ dir, outDir: join(dir, 'out') });
    const nc = await connectNats(natsUrl, 'bench-edge-rates');
    try {
      const controlPlane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
      await controlPlane.publish({ dir: outDir }, { env: 'production' });
    } finally {
      await nc.close();
    }
    // Served (and the isolate loaded) before any timing.
    await waitFor(
      async () =>
        (await httpRequest(edge.url, '/worker/p/warm', { host: HOST, timeoutMs: 30_000 }))
          .status === 200,
      { timeoutMs: 60_000, message: `${edge.url} never served ${APP}` },
    );
    let run = 0;
    const unique = (prefix: string) => (i: number) => `${prefix}/${run}-${i}`;
    const measure = (prefix: string, status: number) => {
      run++;
      return rate(edge.url, unique(prefix), status);
    };
    return {
      connections: CONNECTIONS,
      windowMs: WINDOW_MS,
      redirectEdge: await measure('/edge/r', 301),
      redirectWorker: await measure('/worker/r', 301),
      proxyEdge: await measure('/edge/p', 200),
      proxyWorker: await measure('/worker/p', 200),
    };
  } finally {
    backend.closeAllConnections();
    await new Promise<void>((resolve) => backend.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  }
}
