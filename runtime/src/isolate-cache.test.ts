import { afterEach, describe, expect, it } from 'vitest';
import { type DeploymentSource, IsolateCache } from './isolate-cache.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { hashOf, rejection, request, text } from './test-helpers.ts';

const caches: IsolateCache[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.disposeAll()));
});

function cache(options: ConstructorParameters<typeof IsolateCache>[0] = {}): IsolateCache {
  const c = new IsolateCache(options);
  caches.push(c);
  return c;
}

/** A deployment whose handler answers `body`; counts how often its code is read. */
function deployment(
  id: string,
  body = `page of ${id}`,
  extra: Partial<DeploymentSource> = {},
): DeploymentSource & { reads: number } {
  const code = `Flotilla.serve(async (req) => {
    if (req.url.endsWith('/slow')) await new Promise((r) => setTimeout(r, 100));
    if (req.url.endsWith('/loop')) while (true) {}
    return new Response(${JSON.stringify(body)});
  });`;
  const source = {
    deploymentId: id,
    bundleHash: hashOf(code),
    reads: 0,
    async loadCode() {
      source.reads++;
      return code;
    },
    ...extra,
  };
  return source;
}

const nextTurn = () => new Promise((r) => setImmediate(r));

describe('IsolateCache', () => {
  it('loads a deployment once and serves later requests from the warm isolate', async () => {
    const c = cache();
    const shop = deployment('shop');
    const first = await c.acquire(shop);
    expect(first).toMatchObject({ cold: true, loaded: true });
    const second = await c.acquire(shop);
    expect(second).toMatchObject({ cold: false, loaded: false });
    expect(second.isolate).toBe(first.isolate);
    expect(shop.reads).toBe(1);
    expect(text((await second.isolate.render(request())).body)).toBe('page of shop');
    expect(c.warm()).toEqual(['shop']);
    expect(c.size).toBe(1);
  });

  it('evicts and disposes the least recently used isolate past maxIsolates; it then starts cold', async () => {
    const c = cache({ maxIsolates: 2 });
    const a = deployment('a');
    const b = deployment('b');
    const d = deployment('d');
    const isoA = (await c.acquire(a)).isolate;
    const isoB = (await c.acquire(b)).isolate;
    await c.acquire(a); // a is now more recent than b
    await c.acquire(d);
    await nextTurn();
    expect(c.warm().sort()).toEqual(['a', 'd']);
    expect(isoB.disposed).toBe(true);
    expect(isoA.disposed).toBe(false);
    const again = await c.acquire(b);
    expect(again.cold).toBe(true);
    expect(b.reads).toBe(2);
    expect(text((await again.isolate.render(request())).body)).toBe('page of b');
    expect(c.size).toBe(2);
  });

  it('shares one load among concurrent first requests', async () => {
    const coldStarts: string[] = [];
    const c = cache({ onColdStart: (id) => coldStarts.push(id) });
    const shop = deployment('shop');
    const all = await Promise.all(Array.from({ length: 6 }, () => c.acquire(shop)));
    expect(shop.reads).toBe(1);
    expect(new Set(all.map((a) => a.isolate)).size).toBe(1);
    expect(all.every((a) => a.cold)).toBe(true);
    expect(all.filter((a) => a.loaded)).toHaveLength(1);
    expect(coldStarts).toEqual(['shop']);
  });

  it('calls onColdStart once per load with the load time', async () => {
    const seen: Array<[string, number]> = [];
    const c = cache({ maxIsolates: 1, onColdStart: (id, ms) => seen.push([id, ms]) });
    await c.acquire(deployment('a'));
    await c.acquire(deployment('a'));
    await c.acquire(deployment('b'));
    expect(seen.map(([id]) => id)).toEqual(['a', 'b']);
    for (const [, ms] of seen) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('recycles an isolate after maxRendersPerIsolate renders', async () => {
    const c = cache({ maxRendersPerIsolate: 2 });
    const shop = deployment('shop');
    const first = (await c.acquire(shop)).isolate;
    await first.render(request());
    expect((await c.acquire(shop)).isolate).toBe(first);
    await first.render(request());
    const next = await c.acquire(shop);
    expect(next.cold).toBe(true);
    expect(next.isolate).not.toBe(first);
    await nextTurn();
    expect(first.disposed).toBe(true);
    expect(text((await next.isolate.render(request())).body)).toBe('page of shop');
  });

  it('reloads when the bundle hash of a deployment id changes', async () => {
    const c = cache();
    const v1 = deployment('shop', 'version 1');
    const v2 = deployment('shop', 'version 2');
    const old = (await c.acquire(v1)).isolate;
    const fresh = await c.acquire(v2);
    expect(fresh.cold).toBe(true);
    expect(text((await fresh.isolate.render(request())).body)).toBe('version 2');
    await nextTurn();
    expect(old.disposed).toBe(true);
    expect(c.warm()).toEqual(['shop']);
  });

  it('lets a render in flight finish when its isolate is evicted', async () => {
    const c = cache({ maxIsolates: 1 });
    const a = (await c.acquire(deployment('a'))).isolate;
    const slow = a.render(request('http://shop.test/slow'));
    await c.acquire(deployment('b')); // evicts a while it renders
    expect(c.warm()).toEqual(['b']);
    expect(text((await slow).body)).toBe('page of a');
    expect(a.disposed).toBe(true);
  });

  it('replaces an isolate that a limit killed', async () => {
    const c = cache({ ceiling: { ...DEFAULT_LIMITS, cpuMs: 50 } });
    const shop = deployment('shop');
    const first = (await c.acquire(shop)).isolate;
    expect((await rejection(first.render(request('http://shop.test/loop')))).code).toBe(
      'FLOTILLA_ERR_CPU_LIMIT',
    );
    expect(c.warm()).toEqual([]);
    const next = await c.acquire(shop);
    expect(next.cold).toBe(true);
    expect(text((await next.isolate.render(request())).body)).toBe('page of shop');
  });

  it('fails every waiter of a failed load, keeps nothing and retries on the next acquire', async () => {
    const coldStarts: string[] = [];
    const c = cache({ onColdStart: (id) => coldStarts.push(id) });
    let reads = 0;
    const broken: DeploymentSource = {
      deploymentId: 'broken',
      bundleHash: 'h-broken',
      loadCode: async () => {
        reads++;
        return 'Flotilla.serve(';
      },
    };
    const errors = await Promise.all([rejection(c.acquire(broken)), rejection(c.acquire(broken))]);
    expect(errors.map((e) => e.code)).toEqual(['FLOTILLA_ERR_BUNDLE', 'FLOTILLA_ERR_BUNDLE']);
    expect(reads).toBe(1);
    expect(c.warm()).toEqual([]);
    expect(coldStarts).toEqual([]);
    await rejection(c.acquire(broken));
    expect(reads).toBe(2);
  });

  it('holds deployments to the ceiling, whatever they ask for', async () => {
    const c = cache({ ceiling: { ...DEFAULT_LIMITS, wallMs: 500 } });
    const { isolate } = await c.acquire(
      deployment('shop', 'x', { limits: { wallMs: 60_000, cpuMs: 100 } }),
    );
    expect(isolate.limits.wallMs).toBe(500);
    expect(isolate.limits.cpuMs).toBe(100);
  });

  it('disposeAll() disposes every isolate', async () => {
    const c = cache();
    const a = (await c.acquire(deployment('a'))).isolate;
    const b = (await c.acquire(deployment('b'))).isolate;
    const done = c.disposeAll();
    expect([a.disposed, b.disposed]).toEqual([true, true]);
    expect(c.warm()).toEqual([]);
    await done;
  });

  it('disposeAll() resolves once every call into its isolates answered, retired ones included', async () => {
    // Limits far off: only the disposal can stop the loops.
    const limits = { ...DEFAULT_LIMITS, cpuMs: 600_000, wallMs: 600_000 };
    const c = cache({ maxIsolates: 1, ceiling: limits });
    const a = (await c.acquire(deployment('a'))).isolate;
    // A fresh isolate renders asynchronously: the loop runs on an isolated-vm pool thread.
    const looping = a.render(request('http://shop.test/loop')).catch((err: unknown) => err);
    expect(a.busy).toBe(true);
    // Evicted by b while its render runs: retired, not disposed yet.
    const b = (await c.acquire(deployment('b'))).isolate;
    const alsoLooping = b.render(request('http://shop.test/loop')).catch((err: unknown) => err);
    expect(c.warm()).toEqual(['b']);
    expect([a.disposed, a.callsInFlight > 0, b.callsInFlight > 0]).toEqual([false, true, true]);
    await c.disposeAll();
    // Every answer has reached this thread: it may end now.
    expect([a.disposed, b.disposed]).toEqual([true, true]);
    expect([a.callsInFlight, b.callsInFlight, a.busy, b.busy]).toEqual([0, 0, false, false]);
    expect(await looping).toMatchObject({ code: 'FLOTILLA_ERR_INTERNAL' });
    expect(await alsoLooping).toMatchObject({ code: 'FLOTILLA_ERR_INTERNAL' });
  });

  it('rejects invalid options naming them', () => {
    expect(() => new IsolateCache({ maxIsolates: 0 })).toThrow(/maxIsolates/);
    expect(() => new IsolateCache({ maxRendersPerIsolate: 1.5 })).toThrow(/maxRendersPerIsolate/);
  });
});

describe('IsolateCache heap watch', () => {
  function leaky(id: string): DeploymentSource {
    // Keeps ~1 MB per render reachable: a leak.
    const code = `globalThis.kept = [];
      Flotilla.serve(() => { globalThis.kept.push(new Array(125000).fill(1.5)); return new Response(String(globalThis.kept.length)); });`;
    return { deploymentId: id, bundleHash: hashOf(code), loadCode: async () => code };
  }

  it('recycles an isolate whose heap keeps growing, before it reaches its memory limit', async () => {
    const c = cache({ heapCheckEveryRenders: 2, ceiling: { ...DEFAULT_LIMITS, heapMb: 32 } });
    const source = leaky('leaky');
    const seen: string[] = [];
    let recycled = false;
    for (let i = 0; i < 40 && !recycled; i++) {
      const { isolate, cold } = await c.acquire(source);
      if (cold && i > 0) recycled = true;
      seen.push(text((await isolate.render(request())).body));
    }
    expect(recycled).toBe(true);
    // The fresh isolate starts over with an empty heap.
    expect(seen.at(-1)).toBe('1');
  });

  it('reports live isolates and the heap they use', async () => {
    const c = cache();
    await c.acquire(deployment('a'));
    await c.acquire(deployment('b'));
    const stats = c.stats();
    expect(stats.isolates).toBe(2);
    expect(stats.heapBytes).toBeGreaterThan(100_000);
  });
});

describe('IsolateCache.prewarm', () => {
  it('loads a cold deployment and renders once, so the next request is warm', async () => {
    const c = cache();
    const code = `globalThis.seen = [];
      Flotilla.serve((req) => { globalThis.seen.push(req.headers.get('x-flotilla-prewarm')); return new Response(JSON.stringify(globalThis.seen)); });`;
    const source = { deploymentId: 'shop', bundleHash: hashOf(code), loadCode: async () => code };
    const warmed = await c.prewarm(source);
    expect(warmed).toMatchObject({ deploymentId: 'shop', cold: true, status: 200 });
    expect(warmed.loadMs).toBeGreaterThan(0);
    const next = await c.acquire(source);
    expect(next.cold).toBe(false);
    expect(text((await next.isolate.render(request())).body)).toBe('["1",null]');
    expect((await c.prewarm(source)).cold).toBe(false);
  });

  it('renders the synthetic request with the env and re-pointed backends it is given', async () => {
    const c = cache();
    const code = `Flotilla.serve((req, env) => {
      if (env.API_KEY !== 'k-1') throw new Error('API_KEY is missing');
      // 503 when the re-pointed origin was tried (nothing listens there), 500 for the declared one.
      return fetch('backend://api/x').then(
        () => new Response('fetched'),
        (e) => new Response(e.message, { status: e.message.includes('127.0.0.1:2)') ? 503 : 500 }),
      );
    });`;
    const source = {
      deploymentId: 'needs-env',
      bundleHash: hashOf(code),
      loadCode: async () => code,
      backends: { api: 'http://127.0.0.1:1' },
    };
    // Without its env the bundle throws: the prewarm fails with its error.
    expect((await rejection(c.prewarm(source))).message).toContain('API_KEY is missing');
    const warmed = await c.prewarm(source, {
      env: { API_KEY: 'k-1' },
      backends: { api: 'http://127.0.0.1:2' },
    });
    expect(warmed.status).toBe(503);
  });

  it('fails when the bundle cannot load, with its error code', async () => {
    const c = cache();
    const code = 'this is not javascript';
    const err = await rejection(
      c.prewarm({ deploymentId: 'bad', bundleHash: hashOf(code), loadCode: async () => code }),
    );
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
  });
});
