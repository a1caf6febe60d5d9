/**
 * Limits that must hold before they cost the host memory, and report the
 * right cause: the output cap checked inside the isolate (nothing over it is
 * copied out), allocations the isolate refuses answered as the memory limit,
 * unhandled rejections logged without failing the response, and the guest's
 * coarse clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GuestLogEntry } from './console-capture.ts';
import { disposeLoaded, loadBundle, rejection, request, text } from './test-helpers.ts';

afterEach(disposeLoaded);

const MB = 1024 * 1024;

describe('the output cap, enforced inside the isolate', () => {
  it.each([
    ['a string body', `new Response('x'.repeat(50 * ${MB}))`],
    ['a Uint8Array body', `new Response(new Uint8Array(50 * ${MB}))`],
    ['an ArrayBuffer body', `new Response(new ArrayBuffer(50 * ${MB}))`],
  ])(
    '%s of 50 MB fails with FLOTILLA_ERR_OUTPUT_LIMIT, measured before any copy',
    async (_, body) => {
      const iso = await loadBundle(`Flotilla.serve(() => ${body});`);
      const err = await rejection(iso.render(request()));
      expect(err.code).toBe('FLOTILLA_ERR_OUTPUT_LIMIT');
      // The guest's measure (the host's exact check says "is N bytes").
      expect(err.message).toMatch(/at least 52428800 bytes, over the 10485760-byte cap/);
      expect(iso.disposed).toBe(false);
    },
  );

  it('an endless stream body is cancelled at the chunk that crosses the cap', async () => {
    const iso = await loadBundle(`let pulled = 0, cancelled = '';
      Flotilla.serve((req) => {
        if (req.url.endsWith('/seen')) return Response.json({ pulled, cancelled });
        return new Response(new ReadableStream({
          pull(c) { pulled++; c.enqueue(new Uint8Array(${MB})); },
          cancel(reason) { cancelled = String(reason && reason.message); },
        }));
      });`);
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_OUTPUT_LIMIT');
    expect(err.message).toMatch(/at least 11534336 bytes/);
    const seen = JSON.parse(text((await iso.render(request('http://shop.test/seen'))).body));
    // 11 chunks cross the 10 MiB cap; the stream may have one queued ahead.
    expect(seen.pulled).toBeLessThanOrEqual(12);
    expect(seen.cancelled).toMatch(/over the 10485760-byte cap/);
  });

  it('a body at the cap passes, one byte over fails (a deployment asking for less)', async () => {
    const iso = await loadBundle(
      `Flotilla.serve((req) => new Response('é'.repeat(Number(new URL(req.url).searchParams.get('n')))));`,
      { limits: { outputBytes: 1000 } },
    );
    // 500 × 'é' is 1000 bytes of UTF-8: the host's exact check lets it pass.
    expect((await iso.render(request('http://shop.test/?n=500'))).body.byteLength).toBe(1000);
    // 501 characters are under the cap as UTF-16 units, over it as UTF-8: the host's check.
    const err = await rejection(iso.render(request('http://shop.test/?n=501')));
    expect(err.code).toBe('FLOTILLA_ERR_OUTPUT_LIMIT');
    expect(err.message).toMatch(/1002 bytes, over the 1000-byte cap/);
  });
});

describe('allocations the isolate refuses are the memory limit', () => {
  it.each([
    ['a string past V8 longest', `'x'.repeat(2 ** 30)`, /Invalid string length/],
    [
      'a string built by doubling',
      `(() => { let s = 'x'; for (;;) s = s + s; })()`,
      /Invalid string length|128 MB heap/,
    ],
    ['one huge ArrayBuffer', `new ArrayBuffer(2 ** 40)`, /allocation failed/],
    [
      'typed arrays kept in a loop',
      `(() => { const k = []; for (;;) k.push(new Uint8Array(32 * ${MB})); })()`,
      /allocation failed|128 MB heap/,
    ],
  ])('%s → FLOTILLA_ERR_MEMORY_LIMIT, isolate disposed', async (_, expr, cause) => {
    const iso = await loadBundle(`Flotilla.serve(() => new Response(${expr}));`);
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_MEMORY_LIMIT');
    expect(err.message).toMatch(/exceeded the 128 MB heap; isolate disposed/);
    expect(err.message).toMatch(cause);
    expect(iso.disposed).toBe(true);
  });

  it('a RangeError that is not an allocation stays the render error', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => new Response('x'.repeat(-1)));`);
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_RENDER');
    expect(iso.disposed).toBe(false);
  });
});

describe('unhandled rejections', () => {
  const logged = () => {
    const lines: GuestLogEntry[] = [];
    return { lines, log: (entry: GuestLogEntry) => lines.push(entry) };
  };

  it.each([
    [
      'after the Response, synchronously',
      `Promise.reject(new Error('late')); return new Response('ok');`,
    ],
    [
      'while awaiting',
      `await null; Promise.reject(new Error('late')); await new Promise((r) => setTimeout(r, 1)); return new Response('ok');`,
    ],
    [
      'in a timer after the Response',
      `setTimeout(() => Promise.reject(new Error('late')), 0); await new Promise((r) => setTimeout(r, 5)); return new Response('ok');`,
    ],
  ])('%s: logged with deployment and request id, the response stands', async (_, body) => {
    const { lines, log } = logged();
    const iso = await loadBundle(`Flotilla.serve(async () => { ${body} });`, { log });
    for (const id of ['r-1', 'r-2']) {
      const res = await iso.render(request(), { requestId: id });
      expect({ status: res.status, body: text(res.body) }).toEqual({ status: 200, body: 'ok' });
    }
    expect(lines).toContainEqual({
      level: 'error',
      message: 'Unhandled promise rejection: Error: late',
      deploymentId: 'd-test',
      requestId: 'r-2',
    });
    expect(iso.disposed).toBe(false);
  });
});

describe('the guest clock', () => {
  it('stands still while guest code runs and moves on at the next entry from the host', async () => {
    const iso = await loadBundle(`Flotilla.serve(async () => {
      const d0 = Date.now(), p0 = performance.now();
      let i = 0; while (i < 3e7) i++;
      const still = Date.now() === d0 && performance.now() === p0 && new Date().getTime() === d0
        && new Event('x').timeStamp === p0;
      await new Promise((r) => setTimeout(r, 30));
      return Response.json({ still, moved: Date.now() - d0, whole: Number.isInteger(performance.now()),
        isDate: new Date() instanceof Date && new Date(0).getTime() === 0 && typeof Date() === 'string',
        origin: performance.timeOrigin <= d0 });
    });`);
    const out = JSON.parse(text((await iso.render(request())).body));
    expect(out).toMatchObject({ still: true, whole: true, isDate: true, origin: true });
    expect(out.moved).toBeGreaterThanOrEqual(30);
  });
});
