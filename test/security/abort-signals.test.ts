/**
 * Request signals and event listeners must not cross renders. Renders of
 * one deployment share its isolate, so a bundle can keep any signal or
 * listener in module state; what the runtime does with them must stay
 * within the render they belong to:
 *
 * - a render's signal aborts only for its own deadline, never for another
 *   render's, and never after the render ended (a signal kept by module
 *   code stays quiet, and its listeners never run);
 * - a listener one render adds to a shared target runs only when some
 *   render dispatches to it, as that render (its log lines carry that
 *   render's request id);
 * - timers behind `AbortSignal.timeout` die with their render like any timer.
 */
import { createHash } from 'node:crypto';
import { DeploymentIsolate } from '@flotilla/runtime';
import { waitFor } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface LogLine {
  message: string;
  requestId: string;
}

/**
 * `/hold` keeps its request's signal in module state, listens to it, and waits
 * for its abort (or 5 s); `/quick` answers at once; `/report` tells what the
 * module-level listeners saw; `/timeout-left` leaves an `AbortSignal.timeout`
 * pending when it answers.
 */
const BUNDLE = `
const kept = [];
const heard = [];
const bus = new EventTarget();
Flotilla.serve(async (req) => {
  const path = new URL(req.url).pathname;
  if (path === '/hold') {
    kept.push(req.signal);
    const id = req.headers.get('x-id');
    req.signal.addEventListener('abort', () => { heard.push(id); console.log('abort heard by ' + id); });
    bus.addEventListener('ping', () => console.log('ping listener of ' + id));
    await new Promise((resolve) => { req.signal.addEventListener('abort', resolve); setTimeout(resolve, 5000); });
    return new Response('held ' + id);
  }
  if (path === '/ping') { bus.dispatchEvent(new Event('ping')); return new Response('pinged'); }
  if (path === '/timeout-left') {
    const s = AbortSignal.timeout(50);
    s.onabort = () => console.log('late timeout abort');
    return new Response('left a timeout');
  }
  return Response.json({ heard, kept: kept.map((s) => s.aborted) });
});`;

let iso: DeploymentIsolate;
const lines: LogLine[] = [];
beforeAll(async () => {
  iso = await DeploymentIsolate.load({
    deploymentId: 'signals',
    code: BUNDLE,
    bundleHash: createHash('sha256').update(BUNDLE).digest('hex'),
    log: (entry) => lines.push({ message: entry.message, requestId: entry.requestId ?? '' }),
  });
});
afterAll(() => iso.dispose());

const get = (path: string, id = '', deadline?: number) =>
  iso.render(
    { method: 'GET', url: `http://shop.test${path}`, headers: [['x-id', id]], body: null },
    { requestId: id || `r-${path}-${Math.random()}`, ...(deadline ? { deadline } : {}) },
  );
const text = (body: Uint8Array) => new TextDecoder().decode(body);

describe('request signals and listeners across renders sharing an isolate', () => {
  it("aborts only the render whose deadline passed; a finished render's kept signal stays quiet", async () => {
    // A render that ends normally (its wait is cut short by nothing but its 5 s timer) is too
    // slow for a test: end it with a deadline of its own first, then check the others.
    const early = await get('/hold', 'early', Date.now() + 200).catch((e: Error) => e);
    expect(early).toBeInstanceOf(Error);
    await waitFor(() => lines.some((l) => l.message === 'abort heard by early'), {
      timeoutMs: 20_000,
      message: 'the early render to hear its abort',
    });

    // Two renders at once: only B has a deadline.
    const a = get('/hold', 'a');
    const b = get('/hold', 'b', Date.now() + 300);
    await expect(b).rejects.toMatchObject({ code: 'FLOTILLA_ERR_DEADLINE' });
    await waitFor(() => lines.some((l) => l.message === 'abort heard by b'), {
      timeoutMs: 20_000,
      message: "b's abort listener",
    });
    const report = JSON.parse(text((await get('/report')).body)) as {
      heard: string[];
      kept: boolean[];
    };
    // early and b aborted; a (still running) did not.
    expect(report).toEqual({ heard: ['early', 'b'], kept: [true, false, true] });
    expect(text((await a).body)).toBe('held a');
    const after = JSON.parse(text((await get('/report')).body)) as { kept: boolean[] };
    // a ended normally: its kept signal never aborts.
    expect(after.kept).toEqual([true, false, true]);
    const heardBy = lines.filter((l) => l.message.startsWith('abort heard by '));
    expect(heardBy.map((l) => [l.message, l.requestId])).toEqual([
      ['abort heard by early', 'early'],
      ['abort heard by b', 'b'],
    ]);
  }, 60_000);

  it('runs listeners other renders left only on a dispatch, as the dispatching render', async () => {
    const before = lines.length;
    const res = await get('/ping', 'pinger');
    expect(text(res.body)).toBe('pinged');
    const pings = () =>
      lines.slice(before).filter((l) => l.message.startsWith('ping listener of '));
    // Log lines reach the host after the render (console is a queued host call).
    await waitFor(() => pings().length === 3, { timeoutMs: 20_000, message: 'three ping lines' });
    for (const p of pings()) expect(p.requestId).toBe('pinger');
  });

  it('cancels the AbortSignal.timeout a render left pending when it answers', async () => {
    expect(text((await get('/timeout-left', 'leaver')).body)).toBe('left a timeout');
    // Another render that outlives the 50 ms: the left timeout would have fired by its end.
    const held = await get('/hold', 'outliver', Date.now() + 400).catch((e: Error) => e);
    expect(held).toBeInstanceOf(Error);
    await waitFor(() => lines.some((l) => l.message === 'abort heard by outliver'), {
      timeoutMs: 20_000,
      message: "the outliving render's abort",
    });
    expect(lines.some((l) => l.message === 'late timeout abort')).toBe(false);
  }, 60_000);
});
