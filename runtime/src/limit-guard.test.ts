/** Limits enforced on renders: CPU, wall time, deadline, heap, output (see limit-guard.ts). */
import { afterEach, describe, expect, it } from 'vitest';
import { disposeLoaded, HELLO, loadBundle, rejection, request, text } from './test-helpers.ts';

afterEach(() => disposeLoaded());

describe('limits', () => {
  it('stops an infinite loop with FLOTILLA_ERR_CPU_LIMIT and disposes the isolate', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => { while (true) {} });`, {
      limits: { cpuMs: 50 },
    });
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(err.message).toContain('50 ms');
    expect(iso.disposed).toBe(true);
    expect((await rejection(iso.render(request()))).message).toContain('disposed');
  });

  it('stops a loop that starts after an await (in a timer callback) with FLOTILLA_ERR_CPU_LIMIT', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => { await new Promise((r) => setTimeout(r, 1)); while (true) {} });`,
      { limits: { cpuMs: 50, wallMs: 10_000 } },
    );
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(iso.disposed).toBe(true);
  });

  it('stops an endless microtask chain with FLOTILLA_ERR_CPU_LIMIT', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => { const f = () => Promise.resolve().then(f); f(); return new Response('x'); });`,
      { limits: { cpuMs: 50 } },
    );
    expect((await rejection(iso.render(request()))).code).toBe('FLOTILLA_ERR_CPU_LIMIT');
  });

  it('stops an endless microtask chain started while loading with FLOTILLA_ERR_CPU_LIMIT', async () => {
    const err = await rejection(
      loadBundle(
        `const f = () => Promise.resolve().then(f); f(); Flotilla.serve(() => new Response('x'));`,
        {
          limits: { cpuMs: 50 },
        },
      ),
    );
    expect(err.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
  });

  it('bounds the CPU a render spreads over many timer callbacks, not only one synchronous run', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        for (;;) {
          let i = 0;
          while (i < 2e7) i++; // some ms of CPU (the clock stands still while code runs)
          await new Promise((r) => setTimeout(r, 0));
        }
      });`,
      { limits: { cpuMs: 100, wallMs: 5000 } },
    );
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(iso.disposed).toBe(true);
  });

  it('cancels the timers a render left pending once it has answered', async () => {
    const iso = await loadBundle(
      `globalThis.ticks = 0;
      Flotilla.serve((req) => {
        if (req.url.endsWith('/count')) return new Response(String(globalThis.ticks));
        const tick = () => { globalThis.ticks++; setTimeout(tick, 2); };
        tick();
        return new Response('started');
      });`,
    );
    expect(text((await iso.render(request('http://shop.test/start'))).body)).toBe('started');
    await new Promise((r) => setTimeout(r, 60));
    expect(text((await iso.render(request('http://shop.test/count'))).body)).toBe('1');
  });

  it('kills an isolate whose timer loops while no render runs', async () => {
    const iso = await loadBundle(
      `setTimeout(() => { while (true) {} }, 0); Flotilla.serve(() => new Response('x'));`,
      { limits: { cpuMs: 50 } },
    );
    while (!iso.disposed) await new Promise((r) => setTimeout(r, 5));
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_INTERNAL');
    expect(err.message).toContain('disposed');
  });

  it('fails the other renders running in an isolate that a CPU loop killed', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async (req) => {
        if (req.url.endsWith('/loop')) { await new Promise((r) => setTimeout(r, 5)); while (true) {} }
        await new Promise((r) => setTimeout(r, 2000));
        return new Response('never');
      });`,
      { limits: { cpuMs: 50 } },
    );
    const other = rejection(iso.render(request('http://shop.test/slow')));
    const loop = rejection(iso.render(request('http://shop.test/loop')));
    expect((await loop).code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    const victim = await other;
    expect(victim.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(victim.message).toContain('was disposed while this render ran');
  });

  it('fails a render awaiting a promise that never resolves with FLOTILLA_ERR_WALL_LIMIT', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => new Promise(() => {}));`, {
      limits: { wallMs: 100 },
    });
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_WALL_LIMIT');
    expect(err.message).toContain('100 ms');
    expect(iso.disposed).toBe(true);
  });

  it('fails a render awaiting a long setTimeout with FLOTILLA_ERR_WALL_LIMIT', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => { await new Promise((r) => setTimeout(r, 60_000)); return new Response('late'); });`,
      { limits: { wallMs: 100 } },
    );
    expect((await rejection(iso.render(request()))).code).toBe('FLOTILLA_ERR_WALL_LIMIT');
  });

  it('fails with FLOTILLA_ERR_DEADLINE when the deadline comes first, and keeps the isolate warm', async () => {
    const iso = await loadBundle(`Flotilla.serve(async (req) => {
      if (req.url.endsWith('/slow')) await new Promise((r) => setTimeout(r, 300));
      return new Response('done');
    });`);
    const err = await rejection(
      iso.render(request('http://shop.test/slow'), { deadline: Date.now() + 50 }),
    );
    expect(err.code).toBe('FLOTILLA_ERR_DEADLINE');
    expect(iso.disposed).toBe(false);
    expect(text((await iso.render(request('http://shop.test/fast'))).body)).toBe('done');
  });

  it('refuses to start a render whose deadline has passed', async () => {
    const iso = await loadBundle(HELLO);
    const err = await rejection(iso.render(request(), { deadline: Date.now() - 1 }));
    expect(err.code).toBe('FLOTILLA_ERR_DEADLINE');
    expect(iso.renders).toBe(0);
  });

  it('stops a memory bomb with FLOTILLA_ERR_MEMORY_LIMIT; the host and fresh isolates live on', async () => {
    const iso = await loadBundle(
      // Big chunks reach the limit in a few allocations: no long GC thrash that
      // a busy machine could stretch past the CPU limit first.
      `Flotilla.serve(() => { const a = []; while (true) a.push(new Array(100000).fill(1.5)); });`,
      { limits: { heapMb: 16, cpuMs: 5000 } },
    );
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_MEMORY_LIMIT');
    expect(err.message).toContain('16 MB');
    expect(iso.disposed).toBe(true);
    const fresh = await loadBundle(HELLO, { limits: { heapMb: 16 } });
    expect(text((await fresh.render(request())).body)).toBe('<h1>Hello</h1>');
  });

  it('fails a response body over limits.outputBytes with FLOTILLA_ERR_OUTPUT_LIMIT', async () => {
    const iso = await loadBundle(
      `Flotilla.serve((req) => new Response('x'.repeat(Number(req.url.split('/').pop()))));`,
      { limits: { outputBytes: 1000 } },
    );
    expect((await iso.render(request('http://x/1000'))).body.byteLength).toBe(1000);
    const err = await rejection(iso.render(request('http://x/1001')));
    expect(err.code).toBe('FLOTILLA_ERR_OUTPUT_LIMIT');
    expect(err.message).toContain('1001 bytes');
    expect(iso.disposed).toBe(false);
  });

  it('counts the output limit in UTF-8 bytes, not characters', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => new Response('€'.repeat(400)));`, {
      limits: { outputBytes: 1000 },
    });
    expect((await rejection(iso.render(request()))).code).toBe('FLOTILLA_ERR_OUTPUT_LIMIT');
  });
});
