/** Loading a bundle into a fresh isolate (see bundle-loader.ts and DeploymentIsolate.load). */
import { afterEach, describe, expect, it } from 'vitest';
import { CompileCache } from './compile-cache.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import {
  disposeLoaded,
  HELLO,
  hashOf,
  loadBundle,
  rejection,
  request,
  text,
} from './test-helpers.ts';

afterEach(() => disposeLoaded());

describe('loading', () => {
  it('fails a bundle with a syntax error with FLOTILLA_ERR_BUNDLE', async () => {
    const err = await rejection(loadBundle(`Flotilla.serve(() => { return new Response('x') ;`));
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
    expect(err.message).toContain('does not compile');
    expect(err.message).toContain('SyntaxError');
  });

  it('fails a bundle that throws while loading with FLOTILLA_ERR_BUNDLE and the message', async () => {
    const err = await rejection(
      loadBundle(`throw new Error('missing config'); Flotilla.serve(() => 1);`),
    );
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
    expect(err.message).toContain('missing config');
  });

  it('fails a bundle that never calls Flotilla.serve with FLOTILLA_ERR_BUNDLE', async () => {
    const err = await rejection(loadBundle(`globalThis.handler = () => new Response('x');`));
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
    expect(err.message).toContain('Flotilla.serve');
  });

  it.each([
    ['twice', `Flotilla.serve(() => 1); Flotilla.serve(() => 2);`, 'already called'],
    ['with a non-function', `Flotilla.serve('index.html');`, 'needs a function'],
  ])(
    'fails a bundle that calls Flotilla.serve %s with FLOTILLA_ERR_BUNDLE',
    async (_, code, shown) => {
      const err = await rejection(loadBundle(code));
      expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
      expect(err.message).toContain(shown);
    },
  );

  it('refuses a bundle over limits.bundleBytes, naming its size', async () => {
    const code = `${HELLO}\n// ${'x'.repeat(2000)}`;
    const size = Buffer.byteLength(code);
    const err = await rejection(loadBundle(code, { limits: { bundleBytes: 1000 } }));
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
    expect(err.message).toContain(`${size} bytes`);
    expect(err.message).toContain('1000-byte cap');
  });

  it('stops an infinite loop at load time with FLOTILLA_ERR_CPU_LIMIT', async () => {
    const err = await rejection(
      loadBundle(`while (true) {} Flotilla.serve(() => 1);`, { limits: { cpuMs: 50 } }),
    );
    expect(err.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(err.message).toContain('while loading');
  });

  it('stops a memory bomb at load time with FLOTILLA_ERR_MEMORY_LIMIT', async () => {
    const err = await rejection(
      // Big pieces: 16 MB in ~20 rounds, little time in GC near the limit.
      // The ceiling lets it have 5 s of CPU (a deployment's own cannot exceed it).
      loadBundle(`const a = []; for (;;) a.push(new Array(1e5).fill(1.5));`, {
        limits: { heapMb: 16 },
        ceiling: { ...DEFAULT_LIMITS, cpuMs: 5000 },
      }),
    );
    expect(err.code).toBe('FLOTILLA_ERR_MEMORY_LIMIT');
  });

  it('reuses compiled code for a bundle hash it has seen (compile cache)', async () => {
    class CountingCache extends CompileCache {
      hits = 0;
      override get(hash: string) {
        const found = super.get(hash);
        if (found) this.hits++;
        return found;
      }
    }
    const cache = new CountingCache();
    const a = await loadBundle(HELLO, { compileCache: cache, deploymentId: 'd-a' });
    expect(cache.size).toBe(1);
    expect(cache.hits).toBe(0);
    const b = await loadBundle(HELLO, { compileCache: cache, deploymentId: 'd-b' });
    expect(cache.size).toBe(1);
    expect(cache.hits).toBe(1);
    expect(text((await b.render(request())).body)).toBe('<h1>Hello</h1>');
    expect(text((await a.render(request())).body)).toBe('<h1>Hello</h1>');
  });

  it('keeps at most maxEntries bundles in the compile cache', async () => {
    const cache = new CompileCache(2);
    for (const n of [1, 2, 3]) {
      const code = `Flotilla.serve(() => new Response('v${n}'));`;
      await loadBundle(code, { compileCache: cache, bundleHash: hashOf(code) });
    }
    expect(cache.size).toBe(2);
    expect(cache.get(hashOf(`Flotilla.serve(() => new Response('v1'));`))).toBeUndefined();
  });

  it('applies the ceiling: a deployment asking for more gets the ceiling', async () => {
    const ceiling = { ...DEFAULT_LIMITS, cpuMs: 40, wallMs: 100 };
    const iso = await loadBundle(`Flotilla.serve(() => new Promise(() => {}));`, {
      limits: { cpuMs: 60_000, wallMs: 60_000 },
      ceiling,
    });
    expect(iso.limits.cpuMs).toBe(40);
    expect(iso.limits.wallMs).toBe(100);
    expect((await rejection(iso.render(request()))).code).toBe('FLOTILLA_ERR_WALL_LIMIT');
  });
});
