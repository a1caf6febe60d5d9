/** Which renders run synchronously on the calling thread (see sync-policy.ts and DeploymentIsolate's #run). */
import { afterEach, describe, expect, it } from 'vitest';
import type { GuestLogEntry } from './console-capture.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { disposeLoaded, loadBundle, rejection, request, text } from './test-helpers.ts';

afterEach(() => disposeLoaded());

describe('synchronous renders', () => {
  // Deployment ids are unique per test: a deployment that hits the CPU limit
  // never renders synchronously again in this thread.
  let n = 0;
  const id = () => `d-sync-${++n}`;

  /** Loads `code`, renders once (a fresh isolate's first render runs asynchronously). */
  async function warm(code: string, options: Parameters<typeof loadBundle>[1] = {}) {
    const iso = await loadBundle(code, { deploymentId: id(), ...options });
    await iso.render(request('http://shop.test/warm'));
    return iso;
  }

  it('renders a handler that does not wait for the host synchronously, once the isolate has rendered', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async (req) => {
      await null;
      const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(req.url)); c.close(); } });
      return new Response(body, { headers: { 'x-sync': '1' } });
    });`,
      { deploymentId: id() },
    );
    const first = await iso.render(request('http://shop.test/1'));
    expect(iso.syncRenders).toBe(0);
    const second = await iso.render(request('http://shop.test/2'));
    expect(iso.syncRenders).toBe(1);
    expect(iso.renders).toBe(2);
    expect(text(first.body)).toBe('http://shop.test/1');
    expect(text(second.body)).toBe('http://shop.test/2');
    expect(second.headers).toContainEqual(['x-sync', '1']);
  });

  it('still renders synchronously when the bundle patched Promise.prototype.then, Map and Reflect', async () => {
    const iso = await warm(`
      const then = Promise.prototype.then;
      Flotilla.serve((req) => {
        if (req.url.endsWith('/patch')) {
          Promise.prototype.then = function () { throw new Error('patched then'); };
          Map.prototype.get = () => undefined;
          Map.prototype.set = function () { return this; };
          Map.prototype.delete = () => false;
          Reflect.apply = () => { throw new Error('patched apply'); };
        }
        return new Response('ok ' + req.url);
      });`);
    await iso.render(request('http://shop.test/patch'));
    const before = iso.syncRenders;
    const res = await iso.render(request('http://shop.test/after'));
    expect(text(res.body)).toBe('ok http://shop.test/after');
    expect(iso.syncRenders).toBe(before + 1);
  });

  it('goes on asynchronously when the render awaits a timer', async () => {
    const iso = await warm(`Flotilla.serve(async (req) => {
      if (req.url.endsWith('/wait')) await new Promise((r) => setTimeout(r, 20));
      return new Response('done ' + req.url);
    });`);
    const sync = iso.syncRenders;
    const res = await iso.render(request('http://shop.test/wait'));
    expect(text(res.body)).toBe('done http://shop.test/wait');
    expect(iso.syncRenders).toBe(sync);
    expect(iso.renders).toBe(2);
  });

  it('cancels a timer a render set without awaiting it, as for any render', async () => {
    const lines: GuestLogEntry[] = [];
    const iso = await warm(
      `Flotilla.serve((req) => {
        if (req.url.endsWith('/leave')) setTimeout(() => console.log('timer ran'), 20);
        return new Response('x');
      });`,
      { log: (e) => lines.push(e) },
    );
    await iso.render(request('http://shop.test/leave'));
    await new Promise((r) => setTimeout(r, 60));
    expect(lines).toEqual([]);
  });

  it('reports a fetch call a render made without awaiting it before the render settles', async () => {
    const iso = await warm(`Flotilla.serve((req) => {
      if (req.url.endsWith('/fire')) fetch('http://undeclared.test/x').catch(() => {});
      return new Response('x');
    });`);
    const outcomes: string[] = [];
    await iso.render(request('http://shop.test/fire'), {
      onBackendRequest: (b, o) => outcomes.push(`${b} ${o}`),
    });
    expect(outcomes).toEqual(['(undeclared) refused']);
  });

  it('stops a synchronous CPU loop, fails the renders waiting in the isolate, and renders that deployment asynchronously from then on', async () => {
    const code = `Flotilla.serve(async (req) => {
      if (req.url.endsWith('/loop')) while (true) {}
      if (req.url.endsWith('/slow')) await new Promise((r) => setTimeout(r, 2000));
      return new Response('ok');
    });`;
    const deploymentId = id();
    const iso = await loadBundle(code, { deploymentId, limits: { cpuMs: 50 } });
    await iso.render(request('http://shop.test/warm'));
    const other = rejection(iso.render(request('http://shop.test/slow')));
    const loop = await rejection(iso.render(request('http://shop.test/loop')));
    expect(loop.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(loop.message).toContain('used more than 50 ms of CPU');
    expect(iso.disposed).toBe(true);
    const victim = await other;
    expect(victim.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(victim.message).toContain('was disposed while this render ran');

    const next = await loadBundle(code, { deploymentId, limits: { cpuMs: 50 } });
    for (let i = 0; i < 3; i++) await next.render(request('http://shop.test/fine'));
    expect(next.syncRenders).toBe(0);
  });

  it('stops an endless microtask chain in the synchronous part with FLOTILLA_ERR_CPU_LIMIT', async () => {
    const iso = await warm(
      `Flotilla.serve(async (req) => {
        // f returns nothing: a chain of promises resolved with the next would
        // also grow the heap, and on a busy machine the heap limit comes first.
        if (req.url.endsWith('/chain')) { await null; const f = () => { Promise.resolve().then(f); }; f(); }
        return new Response('ok');
      });`,
      { limits: { cpuMs: 50 } },
    );
    expect((await rejection(iso.render(request('http://shop.test/chain')))).code).toBe(
      'FLOTILLA_ERR_CPU_LIMIT',
    );
  });

  it('stops a memory bomb in the synchronous part with FLOTILLA_ERR_MEMORY_LIMIT', async () => {
    const iso = await warm(
      `Flotilla.serve((req) => {
        if (req.url.endsWith('/bomb')) { const a = []; for (;;) a.push(new Array(100_000).fill(a.length)); }
        return new Response('ok');
      });`,
      // A CPU limit far away (the operator's too): on a busy machine the bomb
      // is slow to fill 16 MB, and the synchronous run's timeout counts wall time.
      { limits: { heapMb: 16, cpuMs: 5000 }, ceiling: { ...DEFAULT_LIMITS, cpuMs: 5000 } },
    );
    expect((await rejection(iso.render(request('http://shop.test/bomb')))).code).toBe(
      'FLOTILLA_ERR_MEMORY_LIMIT',
    );
    expect(iso.disposed).toBe(true);
  });

  it('does not charge a waiting render for the CPU of the synchronous renders beside it', async () => {
    const iso = await warm(
      `Flotilla.serve(async (req) => {
        if (req.url.endsWith('/wait')) { await new Promise((r) => setTimeout(r, 8000)); return new Response('waited'); }
        let x = 0;
        for (let i = 0; i < 200_000; i++) x += i % 7;
        return new Response('busy ' + x);
      });`,
      // The wall limit (under the default 8 s ceiling) must outlast the 8 s wait.
      { limits: { cpuMs: 60, wallMs: 20_000 }, ceiling: { ...DEFAULT_LIMITS, wallMs: 20_000 } },
    );
    let settled = false;
    const waiting = iso.render(request('http://shop.test/wait'));
    void waiting.then(
      () => (settled = true),
      () => (settled = true),
    );
    // Burn more CPU beside the waiting render than its own limit allows (however
    // slowly a busy machine lets it accrue), while it still waits.
    // (A busy machine makes some renders long, and those are followed by a few
    // asynchronous ones: only the synchronous renders' CPU counts here.)
    let syncCpu = 0;
    while (syncCpu < 100 && !settled) {
      const before = iso.syncRenders;
      const { cpuMs } = await iso.render(request('http://shop.test/busy'));
      if (iso.syncRenders > before) syncCpu += cpuMs;
      await new Promise((r) => setImmediate(r)); // let the CPU watch run
    }
    expect(syncCpu).toBeGreaterThan(60);
    expect(text((await waiting).body)).toBe('waited');
  });

  it('renders asynchronously when the deadline or the wall limit is nearer than the synchronous backstop', async () => {
    // The backstop of a synchronous run: cpuMs + max(cpuMs, 1000) = 1500 ms.
    const iso = await warm(`Flotilla.serve(() => new Response('x'));`, {
      limits: { cpuMs: 500, wallMs: 5000 },
    });
    await iso.render(request(), { deadline: Date.now() + 1000 });
    expect(iso.syncRenders).toBe(0);
    await iso.render(request(), { deadline: Date.now() + 3000 });
    expect(iso.syncRenders).toBe(1);
  });

  it('renders asynchronously for a while after a long render', async () => {
    const iso = await warm(`Flotilla.serve((req) => {
      if (req.url.endsWith('/long')) { let i = 0; while (i < 1e8) i++; } // > 10 ms of CPU (the clock stands still in a loop)
      return new Response('x');
    });`);
    await iso.render(request('http://shop.test/long'));
    const sync = iso.syncRenders;
    for (let i = 0; i < 5; i++) await iso.render(request());
    expect(iso.syncRenders).toBe(sync);
  });
});
