import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeHeartbeat,
  decodeRenderResult,
  encodeRenderRequest,
  FlotillaError,
  type Heartbeat,
  type RenderResult,
  regionSubjects,
  traceIdOf,
} from '@flotilla/protocol';
import { metricSamples, metricValue, waitFor } from '@flotilla/test-harness';
import { InProcessTransport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type BundleStore, DirectoryBundleStore, type ResolvedBundle } from './bundle-store.ts';
import { RenderWorker, type RenderWorkerOptions } from './render-worker.ts';

const REGION = 'test-east';
const subjects = regionSubjects(REGION);

const BUNDLES: Record<string, string> = {
  shop: `Flotilla.serve(async (req) => {
    const path = req.url.slice(req.url.indexOf('/', 8));
    if (path === '/slow') await new Promise((r) => setTimeout(r, 300));
    if (path === '/echo') {
      return Response.json({ method: req.method, lang: req.headers.get('accept-language'), body: await req.text() });
    }
    return new Response('<h1>shop ' + path + '</h1>', { headers: { 'content-type': 'text/html' } });
  });`,
  spin: `Flotilla.serve(() => { while (true) {} });`,
  microloop: `Flotilla.serve(async () => {
    await new Promise((r) => setTimeout(r, 1));
    const f = () => Promise.resolve().then(f);
    f();
    await new Promise(() => {});
  });`,
  broken: `Flotilla.serve(`,
  chatty: `Flotilla.serve(() => {
    console.log('listing', 120, { page: 1 });
    console.warn('slow backend');
    return new Response('ok');
  });`,
};

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-worker-test-'));
  for (const [id, code] of Object.entries(BUNDLES)) {
    await mkdir(join(root, id));
    await writeFile(join(root, id, 'bundle.js'), code);
    const bundleHash = createHash('sha256').update(code).digest('hex');
    await writeFile(join(root, id, 'manifest.json'), JSON.stringify({ bundleHash, routes: [] }));
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const running: RenderWorker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.drain()));
});

interface Started {
  worker: RenderWorker;
  transport: InProcessTransport;
  registry: Registry;
  heartbeats: Heartbeat[];
}

async function startWorker(options: Partial<RenderWorkerOptions> = {}): Promise<Started> {
  const transport = new InProcessTransport();
  const registry = new Registry();
  const heartbeats: Heartbeat[] = [];
  transport.subscribe(subjects.heartbeat, (msg) => heartbeats.push(decodeHeartbeat(msg)));
  const worker = new RenderWorker({
    transport,
    region: REGION,
    bundles: new DirectoryBundleStore(root),
    workerId: 'w-test',
    threads: 1,
    registry,
    heartbeatIntervalMs: 50,
    ...options,
  });
  running.push(worker);
  await worker.start();
  return { worker, transport, registry, heartbeats };
}

function render(
  s: Started,
  deploymentId: string,
  path = '/',
  extra: {
    deadline?: number;
    method?: string;
    headers?: Array<[string, string]>;
    body?: string;
    environment?: string;
  } = {},
): Promise<RenderResult> {
  const message = encodeRenderRequest({
    deploymentId,
    method: extra.method ?? 'GET',
    url: `http://shop.test${path}`,
    headers: extra.headers ?? [],
    body: new TextEncoder().encode(extra.body ?? ''),
    deadline: extra.deadline ?? Date.now() + 10_000,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    requestId: randomUUID(),
    attempt: 1,
    ...(extra.environment !== undefined ? { environment: extra.environment } : {}),
  });
  return s.transport
    .request(subjects.workerRender(s.worker.workerId), message, { timeoutMs: 10_000 })
    .then(decodeRenderResult);
}

function ok(result: RenderResult): Extract<RenderResult, { ok: true }> {
  if (!result.ok) throw new Error(`render failed: ${result.error.code} ${result.error.message}`);
  return result;
}

function errorCode(result: RenderResult): string {
  if (result.ok) throw new Error(`expected an error, got status ${result.status}`);
  return result.error.code;
}

const body = (r: Extract<RenderResult, { ok: true }>) => new TextDecoder().decode(r.body);

describe('RenderWorker', () => {
  it('renders a deployment and reports stage timings; only the first render loads', async () => {
    const s = await startWorker();
    const first = ok(await render(s, 'shop', '/p/1'));
    expect(first.status).toBe(200);
    expect(first.headers).toEqual([['content-type', 'text/html']]);
    expect(body(first)).toBe('<h1>shop /p/1</h1>');
    expect(Object.keys(first.timings).sort()).toEqual(['load', 'queue', 'render', 'worker']);
    for (const ms of Object.values(first.timings)) expect(ms).toBeGreaterThanOrEqual(0);
    const second = ok(await render(s, 'shop', '/p/2'));
    expect(body(second)).toBe('<h1>shop /p/2</h1>');
    expect(Object.keys(second.timings).sort()).toEqual(['queue', 'render', 'worker']);
  });

  it('passes the method, headers and body of the request to the bundle', async () => {
    const s = await startWorker();
    const r = ok(
      await render(s, 'shop', '/echo', {
        method: 'POST',
        headers: [['accept-language', 'fr-CH']],
        body: 'qty=2&sku=ü',
      }),
    );
    expect(JSON.parse(body(r))).toEqual({ method: 'POST', lang: 'fr-CH', body: 'qty=2&sku=ü' });
  });

  it("logs the bundle's console lines with their level, deployment, request and trace ids", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const s = await startWorker({ appLog: (line) => lines.push(line) });
    ok(await render(s, 'chatty'));
    const app = () => lines.filter((l) => l.source === 'app');
    await vi.waitFor(() => expect(app()).toHaveLength(2), { timeout: 5000 });
    const trace = traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(app()).toEqual([
      expect.objectContaining({
        level: 'info',
        msg: 'listing 120 {"page":1}',
        deployment: 'chatty',
        worker: 'w-test',
        traceId: trace,
      }),
      expect.objectContaining({
        level: 'warn',
        msg: 'slow backend',
        deployment: 'chatty',
        traceId: trace,
      }),
    ]);
    expect(app()[0]?.requestId).toEqual(expect.any(String));
  });

  it('heartbeats its capacity and, after a render, the deployment as warm', async () => {
    const s = await startWorker({ tasksPerThread: 3 });
    await waitFor(() => s.heartbeats.length > 0, { intervalMs: 5 });
    expect(s.heartbeats[0]).toMatchObject({
      workerId: 'w-test',
      capacity: 3,
      inFlight: 0,
      warm: [],
      draining: false,
      intervalMs: 50,
    });
    ok(await render(s, 'shop'));
    await waitFor(() => s.heartbeats.some((h) => h.warm.includes('shop')), { intervalMs: 5 });
    expect(s.heartbeats.at(-1)?.capacity).toBe(3);
    expect(s.worker.warm()).toEqual(['shop']);
  });

  it('answers FLOTILLA_ERR_NOT_FOUND for an unknown deployment', async () => {
    const s = await startWorker();
    const r = await render(s, 'no-such-deployment');
    expect(errorCode(r)).toBe('FLOTILLA_ERR_NOT_FOUND');
    expect(r.timings.worker).toBeGreaterThanOrEqual(0);
  });

  it('answers FLOTILLA_ERR_DEADLINE for a request whose deadline has passed', async () => {
    const s = await startWorker();
    expect(errorCode(await render(s, 'shop', '/', { deadline: Date.now() - 1 }))).toBe(
      'FLOTILLA_ERR_DEADLINE',
    );
  });

  it('answers FLOTILLA_ERR_DEADLINE when the deadline passes mid-render, and keeps the isolate warm', async () => {
    const s = await startWorker();
    ok(await render(s, 'shop'));
    expect(errorCode(await render(s, 'shop', '/slow', { deadline: Date.now() + 100 }))).toBe(
      'FLOTILLA_ERR_DEADLINE',
    );
    const next = ok(await render(s, 'shop', '/next'));
    expect(next.timings.load).toBeUndefined();
    expect(
      await metricValue(s.registry, 'flotilla_worker_cold_starts_total', { deployment: 'shop' }),
    ).toBe(1);
  });

  it('answers FLOTILLA_ERR_BUNDLE with the reason for a bundle that does not compile', async () => {
    const s = await startWorker();
    const r = await render(s, 'broken');
    expect(errorCode(r)).toBe('FLOTILLA_ERR_BUNDLE');
    expect(r.ok ? '' : r.error.message).toContain('does not compile');
  });

  it('fails a CPU-looping deployment while a healthy one on the same thread keeps serving', async () => {
    const s = await startWorker({ limits: { cpuMs: 200 }, tasksPerThread: 4 });
    ok(await render(s, 'shop')); // warm
    const spin = render(s, 'spin');
    const healthy = await Promise.all(
      Array.from({ length: 8 }, (_, i) => render(s, 'shop', `/c/${i}`)),
    );
    expect(healthy.map((r) => body(ok(r)))).toEqual(
      Array.from({ length: 8 }, (_, i) => `<h1>shop /c/${i}</h1>`),
    );
    const failed = await spin;
    expect(errorCode(failed)).toBe('FLOTILLA_ERR_CPU_LIMIT');
    // An endless microtask chain (after an await) is stopped the same way.
    expect(errorCode(await render(s, 'microloop'))).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(body(ok(await render(s, 'shop', '/after')))).toBe('<h1>shop /after</h1>');
  });

  it('drains right after CPU-limit kills without taking the process down, time after time', async () => {
    // A killed isolate's call unwinds on isolated-vm's pool thread and is
    // answered on the render thread: a thread terminated before that aborts
    // the whole process (isolated-vm throws there: std::terminate). At 100 ms
    // the CPU watch ticks (every 25 ms) when isolated-vm's own timeout fires;
    // without waiting for the call, 1 run of this test in 3 aborted, and
    // with the render's wait capped at 1 s, 1 whole-file run in 4 on a
    // loaded machine. The threads now answer the drain only once every call
    // into their isolates has (IsolateCache.disposeAll).
    for (let i = 0; i < 12; i++) {
      const s = await startWorker({ limits: { cpuMs: 100 }, tasksPerThread: 2 });
      const [a, b] = await Promise.all([render(s, 'spin'), render(s, 'spin')]);
      expect([errorCode(a), errorCode(b)]).toEqual([
        'FLOTILLA_ERR_CPU_LIMIT',
        'FLOTILLA_ERR_CPU_LIMIT',
      ]);
      await s.worker.drain();
    }
    // Each round needs 100 ms of this process's CPU: seconds on a loaded machine.
  }, 120_000);

  it('holds renders to the limits it was given', async () => {
    const s = await startWorker({ limits: { wallMs: 100 } });
    expect(errorCode(await render(s, 'shop', '/slow'))).toBe('FLOTILLA_ERR_WALL_LIMIT');
  });

  it('refuses invalid limits when constructed, naming them', () => {
    const transport = new InProcessTransport();
    const bundles = new DirectoryBundleStore(root);
    expect(
      () => new RenderWorker({ transport, region: REGION, bundles, limits: { cpuMs: 0 } }),
    ).toThrow(/limits\.cpuMs/);
    expect(
      () => new RenderWorker({ transport, region: REGION, bundles, limits: { heapMb: 2 } }),
    ).toThrow(/limits\.heapMb/);
  });

  it('drains: finishes the render in flight, says so in a heartbeat, then takes no more', async () => {
    const s = await startWorker();
    ok(await render(s, 'shop')); // warm, so the slow render is in the isolate when drain starts
    const slow = render(s, 'shop', '/slow');
    await waitFor(() => s.worker.inFlight === 1, { intervalMs: 5 });
    const drained = s.worker.drain();
    expect(s.worker.draining).toBe(true);
    const result = ok(await slow);
    expect(result.status).toBe(200);
    expect(body(result)).toBe('<h1>shop /slow</h1>');
    await drained;
    await waitFor(() => s.heartbeats.some((h) => h.draining), { intervalMs: 5 });
    expect(s.heartbeats.find((h) => h.draining)).toMatchObject({
      workerId: 'w-test',
      draining: true,
    });
    const after = await render(s, 'shop').then(
      () => 'answered',
      (err: { code?: string }) => err.code,
    );
    expect(after).toBe('FLOTILLA_ERR_NO_RESPONDERS');
    await s.worker.drain(); // idempotent
  });

  it('prewarms a deployment on every thread: the next renders start warm', async () => {
    const s = await startWorker({ threads: 2 });
    expect(await s.worker.prewarm('shop')).toEqual({ threads: 2, warm: 2 });
    expect(s.worker.warm()).toEqual(['shop']);
    // Both threads hold the isolate: concurrent renders need no load.
    const results = await Promise.all([render(s, 'shop'), render(s, 'shop'), render(s, 'shop')]);
    for (const r of results) expect(ok(r).timings.load).toBeUndefined();
    expect(s.heartbeats.at(-1)?.warm).toEqual(['shop']);
  });

  it('refuses to prewarm an unknown deployment', async () => {
    const s = await startWorker();
    await expect(s.worker.prewarm('nope')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
  });

  it('counts renders by outcome and one cold start per isolate in the registry', async () => {
    const s = await startWorker({ limits: { cpuMs: 200 } });
    // Three concurrent first requests share one isolate load: one cold start.
    await Promise.all([render(s, 'shop'), render(s, 'shop'), render(s, 'shop')]);
    await render(s, 'spin');
    await render(s, 'nope');
    const r = s.registry;
    expect(
      await metricValue(r, 'flotilla_worker_renders_total', { deployment: 'shop', outcome: 'ok' }),
    ).toBe(3);
    expect(
      await metricValue(r, 'flotilla_worker_renders_total', {
        deployment: 'spin',
        outcome: 'FLOTILLA_ERR_CPU_LIMIT',
      }),
    ).toBe(1);
    expect(
      await metricValue(r, 'flotilla_worker_renders_total', { outcome: 'FLOTILLA_ERR_NOT_FOUND' }),
    ).toBe(1);
    expect(await metricValue(r, 'flotilla_worker_cold_starts_total', { deployment: 'shop' })).toBe(
      1,
    );
    expect(await metricValue(r, 'flotilla_worker_in_flight', { worker: 'w-test' })).toBe(0);
    expect(await metricValue(r, 'flotilla_worker_capacity', { worker: 'w-test' })).toBe(4);
    // Errors by code and whose fault; an unknown deployment id never becomes a label.
    expect(
      await metricValue(r, 'flotilla_worker_errors_total', {
        code: 'FLOTILLA_ERR_CPU_LIMIT',
        kind: 'user',
      }),
    ).toBe(1);
    expect(
      await metricValue(r, 'flotilla_worker_errors_total', { code: 'FLOTILLA_ERR_NOT_FOUND' }),
    ).toBe(1);
    expect(
      (await metricSamples(r, 'flotilla_worker_renders_total')).find(
        (sample) => sample.labels.deployment === 'nope',
      ),
    ).toBeUndefined();
    // Render time by outcome, CPU per render, live isolates and their heap.
    expect(
      await metricValue(r, 'flotilla_worker_render_seconds_count', {
        deployment: 'spin',
        outcome: 'FLOTILLA_ERR_CPU_LIMIT',
      }),
    ).toBe(1);
    expect(
      await metricValue(r, 'flotilla_worker_render_cpu_seconds_count', { deployment: 'shop' }),
    ).toBe(3);
    expect(await metricValue(r, 'flotilla_worker_live_isolates', { worker: 'w-test' })).toBe(1);
    expect(
      await metricValue(r, 'flotilla_worker_isolate_heap_bytes', { worker: 'w-test' }),
    ).toBeGreaterThan(0);
  });
});

describe('RenderWorker backend fetch', () => {
  it('renders a page with data from a backend its manifest declares, and counts the sub-requests', async () => {
    const seen: Array<{ url: string; traceparent: string }> = [];
    const server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', traceparent: String(req.headers.traceparent) });
      if (req.url === '/products/1') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ name: 'Lamp', price: 42 }));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const code = `Flotilla.serve(async () => {
        const product = await (await fetch('backend://products/products/1')).json();
        const missing = await fetch('${origin}/products/2');
        const refused = await fetch('http://127.0.0.1:1/').then(() => 'fetched', (e) => e.name);
        return new Response('<h1>' + product.name + ' ' + product.price + '</h1><p>' + missing.status + ' ' + refused + '</p>', { headers: { 'content-type': 'text/html' } });
      });`;
      await mkdir(join(root, 'fetcher'));
      await writeFile(join(root, 'fetcher', 'bundle.js'), code);
      await writeFile(
        join(root, 'fetcher', 'manifest.json'),
        JSON.stringify({
          bundleHash: createHash('sha256').update(code).digest('hex'),
          routes: [],
          backends: { products: origin },
        }),
      );
      const s = await startWorker();
      const result = ok(await render(s, 'fetcher'));
      expect(body(result)).toBe('<h1>Lamp 42</h1><p>404 TypeError</p>');
      expect(seen.map((h) => h.url)).toEqual(['/products/1', '/products/2']);
      // The render request's trace id (see render()), a span of its own per sub-request.
      for (const h of seen)
        expect(traceIdOf(h.traceparent)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      const count = (backend: string, outcome: string) =>
        metricValue(s.registry, 'flotilla_worker_backend_requests_total', {
          deployment: 'fetcher',
          backend,
          outcome,
        });
      expect(await count('products', '2xx')).toBe(1);
      expect(await count('products', '4xx')).toBe(1);
      expect(await count('(undeclared)', 'refused')).toBe(1);
      // A second render counts on top.
      ok(await render(s, 'fetcher'));
      expect(await count('products', '2xx')).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

/** What one app environment gives a deployment's renders. */
interface EnvironmentConfig {
  env?: Record<string, string>;
  backends?: Record<string, string>;
}

/**
 * A bundle store with environments, as the control plane's: the directory's
 * deployments, each environment adding its variables and re-pointing backends.
 */
class EnvironmentBundleStore implements BundleStore {
  readonly calls: Array<[string, string | undefined]> = [];
  readonly #inner: DirectoryBundleStore;
  readonly #environments: Record<string, EnvironmentConfig>;

  constructor(rootDir: string, environments: Record<string, EnvironmentConfig>) {
    this.#inner = new DirectoryBundleStore(rootDir);
    this.#environments = environments;
  }

  async resolve(deploymentId: string, environment?: string): Promise<ResolvedBundle> {
    this.calls.push([deploymentId, environment]);
    const bundle = await this.#inner.resolve(deploymentId);
    if (environment === undefined) return bundle;
    const config = this.#environments[environment];
    if (!config) {
      throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `no environment ${environment}`);
    }
    return {
      ...bundle,
      backends: { ...bundle.backends, ...config.backends },
      ...(config.env ? { env: config.env } : {}),
    };
  }
}

/** Writes deployment `id` (bundle and manifest, with `extra` manifest fields) into the test root. */
async function deploy(
  id: string,
  code: string,
  backends?: Record<string, string>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await mkdir(join(root, id), { recursive: true });
  await writeFile(join(root, id, 'bundle.js'), code);
  await writeFile(
    join(root, id, 'manifest.json'),
    JSON.stringify({
      bundleHash: createHash('sha256').update(code).digest('hex'),
      routes: [],
      ...(backends ? { backends } : {}),
      ...extra,
    }),
  );
}

/** Writes deployment `id` whose manifest asks for `limits` (as is: they may be invalid). */
function deployWithLimits(id: string, code: string, limits: unknown): Promise<void> {
  return deploy(id, code, undefined, { limits });
}

/** A loopback server answering every request with its own name. */
async function namedServer(
  name: string,
): Promise<{ origin: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const ENV_BUNDLE = `Flotilla.serve(async (req, env) => {
  const path = new URL(req.url).pathname;
  if (path === '/api') {
    const r = await fetch('backend://api/who');
    return new Response(await r.text());
  }
  return Response.json({ env, frozen: Object.isFrozen(env) });
});`;

describe('RenderWorker environments', () => {
  it('renders one deployment for two environments with each environment’s variables, in one isolate', async () => {
    await deploy('envshop', ENV_BUNDLE);
    const bundles = new EnvironmentBundleStore(root, {
      production: { env: { API_KEY: 'prod-key', STAGE: 'production' } },
      staging: { env: { API_KEY: 'staging-key', STAGE: 'staging' } },
    });
    const s = await startWorker({ bundles });
    const seen = async (environment?: string) =>
      JSON.parse(
        body(ok(await render(s, 'envshop', '/', environment ? { environment } : {}))),
      ) as unknown;
    expect(await seen('production')).toEqual({
      env: { API_KEY: 'prod-key', STAGE: 'production' },
      frozen: true,
    });
    expect(await seen('staging')).toEqual({
      env: { API_KEY: 'staging-key', STAGE: 'staging' },
      frozen: true,
    });
    // A preview request (no environment): the deployment alone, an empty env.
    expect(await seen()).toEqual({ env: {}, frozen: true });
    // Interleaved, concurrently: each keeps its own.
    const mixed = await Promise.all(
      ['production', 'staging', 'production', 'staging'].map((e) =>
        render(s, 'envshop', '/', { environment: e }),
      ),
    );
    expect(
      mixed.map((r) => (JSON.parse(body(ok(r))) as { env: { STAGE: string } }).env.STAGE),
    ).toEqual(['production', 'staging', 'production', 'staging']);
    // The store is asked for each request's environment; once, the
    // deployment alone too: its manifest's backends are the declared ones.
    expect(bundles.calls.slice(0, 4)).toEqual([
      ['envshop', 'production'],
      ['envshop', undefined],
      ['envshop', 'staging'],
      ['envshop', undefined], // the preview request
    ]);
    expect(bundles.calls.slice(4).map(([, e]) => e)).toEqual([
      'production',
      'staging',
      'production',
      'staging',
    ]);
    // The environments share the deployment's isolate.
    expect(
      await metricValue(s.registry, 'flotilla_worker_cold_starts_total', { deployment: 'envshop' }),
    ).toBe(1);
  });

  it('sends each environment’s backend fetches to the origins it re-points, and counts them under the declared name', async () => {
    const prod = await namedServer('production api');
    const staging = await namedServer('staging api');
    const declared = await namedServer('manifest api');
    try {
      await deploy('envapi', ENV_BUNDLE, { api: declared.origin });
      const bundles = new EnvironmentBundleStore(root, {
        production: { backends: { api: prod.origin } },
        staging: { backends: { api: staging.origin } },
      });
      const s = await startWorker({ bundles });
      const page = async (environment?: string) =>
        body(ok(await render(s, 'envapi', '/api', environment ? { environment } : {})));
      expect(await page('staging')).toBe('staging api');
      expect(await page('production')).toBe('production api');
      expect(await page()).toBe('manifest api');
      expect(await page('staging')).toBe('staging api');
      expect([prod.hits.length, staging.hits.length, declared.hits.length]).toEqual([1, 2, 1]);
      expect(
        await metricValue(s.registry, 'flotilla_worker_backend_requests_total', {
          deployment: 'envapi',
          backend: 'api',
          outcome: '2xx',
        }),
      ).toBe(4);
    } finally {
      await Promise.all([prod.close(), staging.close(), declared.close()]);
    }
  });

  it('refuses a render whose environment re-points a backend the manifest does not declare', async () => {
    await deploy('envbad', ENV_BUNDLE, { api: 'http://127.0.0.1:1' });
    const bundles = new EnvironmentBundleStore(root, {
      production: { backends: { search: 'http://127.0.0.1:2' } },
    });
    const s = await startWorker({ bundles });
    const r = await render(s, 'envbad', '/api', { environment: 'production' });
    expect(errorCode(r)).toBe('FLOTILLA_ERR_INVALID_OPTION');
    expect(r.ok ? '' : r.error.message).toContain('"backends.search"');
    expect(r.ok ? '' : r.error.message).toContain('never add one');
  });

  it('answers FLOTILLA_ERR_PROTOCOL for a request whose environment is not a subject token', async () => {
    await deploy('envshop', ENV_BUNDLE);
    const s = await startWorker();
    const message = encodeRenderRequest({
      deploymentId: 'envshop',
      method: 'GET',
      url: 'http://shop.test/',
      headers: [],
      body: new Uint8Array(0),
      deadline: Date.now() + 10_000,
      traceparent: '',
      requestId: randomUUID(),
      attempt: 1,
    });
    message.headers['flotilla-environment'] = 'prod.>';
    const r = decodeRenderResult(
      await s.transport.request(subjects.workerRender(s.worker.workerId), message, {
        timeoutMs: 10_000,
      }),
    );
    expect(errorCode(r)).toBe('FLOTILLA_ERR_PROTOCOL');
    expect(r.ok ? '' : r.error.message).toContain('environment "prod.>" is invalid');
  });

  it('prewarms with an environment’s variables when asked to, and refuses an invalid environment', async () => {
    await deploy(
      'envneeds',
      `Flotilla.serve((req, env) => {
        if (!env.API_KEY) throw new Error('API_KEY is not set');
        return new Response('ok ' + env.API_KEY);
      });`,
    );
    const bundles = new EnvironmentBundleStore(root, { production: { env: { API_KEY: 'k' } } });
    const s = await startWorker({ bundles });
    await expect(s.worker.prewarm('envneeds')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_RENDER',
    });
    expect(await s.worker.prewarm('envneeds', 10_000, 'production')).toEqual({
      threads: 1,
      warm: 1,
    });
    await expect(s.worker.prewarm('envneeds', 10_000, 'Prod.*')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_INVALID_OPTION',
    });
    expect(body(ok(await render(s, 'envneeds', '/', { environment: 'production' })))).toBe('ok k');
  });
});

describe('RenderWorker deployment limits', () => {
  /** Spins on `/spin`, answers `ok` elsewhere (so a prewarm succeeds). */
  const SPIN_ON_PATH = `Flotilla.serve((req) => {
    if (new URL(req.url).pathname === '/spin') for (;;) {}
    return new Response('ok');
  });`;

  it('holds a deployment to the lower CPU limit its manifest asks for', async () => {
    await deployWithLimits('spin-50', BUNDLES.spin as string, { cpuMs: 50 });
    // The operator's limit is CPU time: on a busy machine a spin takes several
    // times that in wall time to reach it, well within the 10 s deadline.
    const s = await startWorker({ limits: { cpuMs: 500 } });
    const r = await render(s, 'spin-50');
    expect(errorCode(r)).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(r.ok ? '' : r.error.message).toMatch(/used more than 50 ms of CPU/);
    // A deployment that asks for nothing keeps the operator's limit.
    const other = await render(s, 'spin');
    expect(other.ok ? '' : other.error.message).toMatch(/used more than 500 ms of CPU/);
  });

  it('holds a deployment asking for more than the operator allows to the operator’s limit', async () => {
    await deployWithLimits('spin-greedy', BUNDLES.spin as string, { cpuMs: 60_000, heapMb: 4096 });
    const s = await startWorker({ limits: { cpuMs: 300 } });
    const r = await render(s, 'spin-greedy');
    expect(errorCode(r)).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(r.ok ? '' : r.error.message).toMatch(/used more than 300 ms of CPU/);
  });

  it('loads a prewarmed deployment with the limits its manifest asks for', async () => {
    await deployWithLimits('spin-path', SPIN_ON_PATH, { cpuMs: 50 });
    const s = await startWorker({ limits: { cpuMs: 2000 } });
    expect(await s.worker.prewarm('spin-path')).toEqual({ threads: 1, warm: 1 });
    const r = await render(s, 'spin-path', '/spin');
    expect(r.timings.load).toBeUndefined(); // the prewarmed isolate ran it
    expect(errorCode(r)).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(r.ok ? '' : r.error.message).toMatch(/used more than 50 ms of CPU/);
  });

  it('fails the render with FLOTILLA_ERR_INVALID_OPTION for limits that slipped through, naming them', async () => {
    await deployWithLimits('bad-cpu', BUNDLES.shop as string, { cpuMs: -1 });
    await deployWithLimits('bad-heap', BUNDLES.shop as string, { heapMb: 2 });
    await deployWithLimits('bad-null', BUNDLES.shop as string, null);
    const s = await startWorker();
    for (const [id, option] of [
      ['bad-cpu', 'limits.cpuMs'],
      ['bad-heap', 'limits.heapMb'],
      ['bad-null', 'limits'],
    ] as const) {
      const r = await render(s, id);
      expect(errorCode(r)).toBe('FLOTILLA_ERR_INVALID_OPTION');
      expect(r.ok ? '' : r.error.message).toContain(`option "${option}"`);
    }
    await expect(s.worker.prewarm('bad-cpu')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_INVALID_OPTION',
    });
    // The worker lives on.
    expect(body(ok(await render(s, 'shop', '/after')))).toBe('<h1>shop /after</h1>');
  });
});
