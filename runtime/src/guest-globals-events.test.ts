/**
 * The guest's events and aborting (`Event`, `EventTarget`, `AbortController`,
 * `AbortSignal`, `Request.prototype.signal`, `fetch`'s `signal`) in a real
 * isolate. Most cases run the same snippet in the isolate and in Node, whose
 * globals follow the DOM standard, and expect the same answer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuestLogEntry } from './console-capture.ts';
import type { DeploymentIsolate } from './sandbox.ts';
import {
  disposeLoaded,
  loadBundle,
  rejection,
  request,
  SNIPPET_RUNNER,
  snippets,
  text,
} from './test-helpers.ts';

let iso: DeploymentIsolate;
const logs: GuestLogEntry[] = [];
beforeAll(async () => {
  iso = await loadBundle(SNIPPET_RUNNER, {
    deploymentId: 'd-guest-events',
    log: (entry) => logs.push(entry),
  });
});
afterAll(() => disposeLoaded());

const { inGuest, sameAsNode } = snippets(() => iso);

/** Waits (polling, no fixed sleep) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Event', () => {
  it('has the fields, constants and defaults of the DOM standard, like Node', async () => {
    expect(
      await sameAsNode(`
        const e = new Event('ping', { cancelable: true, bubbles: true });
        const plain = new Event('plain');
        let noType; try { new Event(); } catch (err) { noType = err.name; }
        return [e.type, e.bubbles, e.cancelable, e.composed, e.defaultPrevented, e.eventPhase,
          e.target, e.currentTarget, e.isTrusted, typeof e.timeStamp, e.returnValue,
          Object.prototype.toString.call(e), Event.NONE, Event.AT_TARGET, Event.BUBBLING_PHASE,
          plain.bubbles, plain.cancelable, noType, Event.length, e.composedPath()];`),
    ).toEqual([
      'ping',
      true,
      true,
      false,
      false,
      0,
      null,
      null,
      false,
      'number',
      true,
      '[object Event]',
      0,
      2,
      3,
      false,
      false,
      'TypeError',
      1,
      [],
    ]);
  });

  it('preventDefault only cancels a cancelable event, and not from a passive listener', async () => {
    expect(
      await sameAsNode(`
        const t = new EventTarget();
        t.addEventListener('a', (e) => e.preventDefault());
        t.addEventListener('p', (e) => e.preventDefault(), { passive: true });
        return [t.dispatchEvent(new Event('a', { cancelable: true })), t.dispatchEvent(new Event('a')),
          t.dispatchEvent(new Event('p', { cancelable: true }))];`),
    ).toEqual([false, true, true]);
  });
});

describe('EventTarget', () => {
  it('dispatches to listeners in order, with target, currentTarget, phase and this', async () => {
    expect(
      await sameAsNode(`
        const t = new EventTarget();
        const seen = [];
        const obj = { handleEvent(e) { seen.push(['object', this === obj, e.type]); } };
        t.addEventListener('x', function (e) { seen.push(['fn', this === t, e.target === t, e.currentTarget === t, e.eventPhase, e.composedPath().length]); });
        t.addEventListener('x', obj);
        t.addEventListener('y', () => seen.push(['other type']));
        const e = new Event('x');
        const result = t.dispatchEvent(e);
        seen.push([result, e.eventPhase, e.currentTarget, e.target === t, e.composedPath().length]);
        return seen;`),
    ).toEqual([
      ['fn', true, true, true, 2, 1],
      ['object', true, 'x'],
      [true, 0, null, true, 0],
    ]);
  });

  it('adds a listener once per type, callback and capture; once, removal, stopImmediatePropagation', async () => {
    expect(
      await sameAsNode(`
        const t = new EventTarget();
        const seen = [];
        const f = () => seen.push('f');
        t.addEventListener('x', f);
        t.addEventListener('x', f);
        t.addEventListener('x', f, true);
        t.addEventListener('x', () => seen.push('once'), { once: true });
        t.dispatchEvent(new Event('x'));
        t.removeEventListener('x', f);
        t.dispatchEvent(new Event('x'));
        t.removeEventListener('x', f, { capture: true });
        t.dispatchEvent(new Event('x'));
        t.addEventListener('s', (e) => { seen.push('s1'); e.stopImmediatePropagation(); });
        t.addEventListener('s', () => seen.push('s2'));
        t.dispatchEvent(new Event('s'));
        t.addEventListener('r', () => { seen.push('r1'); t.removeEventListener('r', r2); });
        const r2 = () => seen.push('r2');
        t.addEventListener('r', r2);
        t.dispatchEvent(new Event('r'));
        t.addEventListener('n', null);
        return seen;`),
    ).toEqual(['f', 'f', 'once', 'f', 's1', 'r1']);
  });

  it('removes a listener when its signal aborts, and never adds one with an aborted signal', async () => {
    expect(
      await sameAsNode(`
        const t = new EventTarget();
        const c = new AbortController();
        const seen = [];
        t.addEventListener('x', () => seen.push('with signal'), { signal: c.signal });
        t.addEventListener('x', () => seen.push('aborted'), { signal: AbortSignal.abort() });
        t.dispatchEvent(new Event('x'));
        c.abort();
        t.dispatchEvent(new Event('x'));
        let bad; try { t.addEventListener('x', () => {}, { signal: {} }); } catch (e) { bad = e.name; }
        return [seen, bad];`),
    ).toEqual([['with signal'], 'TypeError']);
  });

  // Node throws a plain Error for the second (ERR_EVENT_RECURSION); the standard says InvalidStateError.
  it('refuses to dispatch a non-Event or an event being dispatched', async () => {
    expect(
      await inGuest(`
        const t = new EventTarget();
        const names = [];
        try { t.dispatchEvent({ type: 'x' }); } catch (e) { names.push(e.name); }
        t.addEventListener('x', (e) => { try { t.dispatchEvent(e); } catch (err) { names.push(err.name); } });
        t.dispatchEvent(new Event('x'));
        try { t.addEventListener('x'); } catch (e) { names.push(e.name); }
        return names;`),
    ).toEqual({ ok: true, value: ['TypeError', 'InvalidStateError', 'TypeError'] });
  });

  it("reports a listener's exception to the render's log and runs the next listeners", async () => {
    const got = await inGuest(`
      const t = new EventTarget();
      const seen = [];
      t.addEventListener('x', () => { throw new RangeError('listener broke'); });
      t.addEventListener('x', () => seen.push('second ran'));
      return [t.dispatchEvent(new Event('x')), seen];`);
    expect(got).toEqual({ ok: true, value: [true, ['second ran']] });
    const line = 'Uncaught exception in event listener: RangeError: listener broke';
    await until(() => logs.some((l) => l.message === line), 'the reported exception');
    expect(logs.find((l) => l.message === line)?.level).toBe('error');
  });

  it('is subclassable, as frameworks do', async () => {
    expect(
      await sameAsNode(`
        class Bus extends EventTarget { emit(n) { return this.dispatchEvent(new Event(n)); } }
        const b = new Bus();
        let got = 0;
        b.addEventListener('go', () => got++);
        b.emit('go');
        return [got, b instanceof EventTarget, Object.prototype.toString.call(new EventTarget())];`),
    ).toEqual([1, true, '[object EventTarget]']);
  });
});

describe('AbortController and AbortSignal', () => {
  it('abort once, with an AbortError DOMException by default or the given reason', async () => {
    expect(
      await sameAsNode(`
        const c = new AbortController();
        const s = c.signal;
        const events = [];
        s.onabort = (e) => events.push(['onabort', e.type, e.isTrusted, e.target === s]);
        s.addEventListener('abort', () => events.push(['listener', s.aborted]));
        const before = [s.aborted, s.reason, s.throwIfAborted()];
        c.abort();
        c.abort('again');
        let thrown; try { s.throwIfAborted(); } catch (e) { thrown = [e.name, e.message, e instanceof DOMException]; }
        const withReason = new AbortController();
        withReason.abort('why');
        return [before, events, s.reason.name, s.reason.code, thrown, withReason.signal.reason,
          c.signal === s, Object.prototype.toString.call(s), Object.prototype.toString.call(c)];`),
    ).toEqual([
      [false, null, null],
      [
        ['onabort', 'abort', true, true],
        ['listener', true],
      ],
      'AbortError',
      20,
      ['AbortError', 'This operation was aborted', true],
      'why',
      true,
      '[object AbortSignal]',
      '[object AbortController]',
    ]);
  });

  it('cannot be constructed directly; static abort() is already aborted', async () => {
    expect(
      await sameAsNode(`
        let direct; try { new AbortSignal(); } catch (e) { direct = e.name; }
        const a = AbortSignal.abort();
        const b = AbortSignal.abort(42);
        return [direct, a.aborted, a.reason.name, b.reason, AbortSignal.abort.length,
          AbortSignal.any.length, AbortSignal.timeout.length, new AbortController().abort.length];`),
    ).toEqual(['TypeError', true, 'AbortError', 42, 0, 1, 1, 0]);
  });

  it('any() follows every source, flattens chains and takes the first reason', async () => {
    expect(
      await sameAsNode(`
        const a = new AbortController(), b = new AbortController();
        const any = AbortSignal.any([a.signal, b.signal]);
        const chained = AbortSignal.any([any]);
        const order = [];
        any.addEventListener('abort', () => order.push('any'));
        chained.addEventListener('abort', () => order.push('chained'));
        a.signal.addEventListener('abort', () => order.push('a'));
        const before = [any.aborted, chained.aborted];
        b.abort('b first');
        a.abort('a later');
        const early = AbortSignal.any([AbortSignal.abort('done'), new AbortController().signal]);
        let bad; try { AbortSignal.any([{}]); } catch (e) { bad = e.name; }
        return [before, any.reason, chained.reason, order, early.aborted, early.reason, AbortSignal.any([]).aborted, bad];`),
    ).toEqual([
      [false, false],
      'b first',
      'b first',
      ['any', 'chained', 'a'],
      true,
      'done',
      false,
      'TypeError',
    ]);
  });

  it('timeout() aborts with a TimeoutError on the host timers', async () => {
    expect(
      await sameAsNode(`
        const s = AbortSignal.timeout(5);
        const before = s.aborted;
        await new Promise((resolve) => s.addEventListener('abort', resolve));
        return [before, s.aborted, s.reason.name, s.reason.code];`),
    ).toEqual([false, true, 'TimeoutError', 23]);
    // WebIDL's [EnforceRange] (Node throws a RangeError instead).
    expect(await inGuest('AbortSignal.timeout(-1)')).toEqual({ ok: false, error: 'TypeError' });
  });
});

describe('Request.prototype.signal', () => {
  it('follows the init signal, the source request, and never aborts otherwise', async () => {
    expect(
      await sameAsNode(`
        const c = new AbortController();
        const r = new Request('http://x.test/', { signal: c.signal });
        const copy = new Request(r);
        const cloned = r.clone();
        const none = new Request('http://x.test/');
        const explicitNull = new Request(r, { signal: null });
        const before = [r.signal.aborted, r.signal === c.signal, r.signal instanceof AbortSignal];
        c.abort('gone');
        let bad; try { new Request('http://x.test/', { signal: {} }); } catch (e) { bad = e.name; }
        return [before, r.signal.reason, copy.signal.reason, cloned.signal.reason, none.signal.aborted,
          explicitNull.signal.aborted, bad];`),
    ).toEqual([[false, false, true], 'gone', 'gone', 'gone', false, false, 'TypeError']);
  });

  it("a handler's request has a signal, not aborted while it renders", async () => {
    const bundle = await loadBundle(
      `Flotilla.serve((req) => Response.json([req.signal instanceof AbortSignal, req.signal.aborted]));`,
      { deploymentId: 'd-request-signal' },
    );
    const res = await bundle.render(request());
    expect(JSON.parse(text(res.body))).toEqual([true, false]);
  });

  it("aborts with a TimeoutError when the render's deadline passes, and lets the render stop", async () => {
    const seen: GuestLogEntry[] = [];
    const bundle = await loadBundle(
      `Flotilla.serve(async (req) => {
        const why = await new Promise((resolve) => req.signal.addEventListener('abort', () => resolve(req.signal.reason)));
        console.log('aborted: ' + why.name + ': ' + why.message);
        return new Response('late');
      });`,
      { deploymentId: 'd-deadline-signal', log: (entry) => seen.push(entry) },
    );
    const err = await rejection(
      bundle.render(request(), { deadline: Date.now() + 300, requestId: 'req-deadline' }),
    );
    expect(err.code).toBe('FLOTILLA_ERR_DEADLINE');
    await until(() => seen.some((l) => l.message.startsWith('aborted:')), 'the abort listener');
    const line = seen.find((l) => l.message.startsWith('aborted:'));
    expect(line?.message).toMatch(
      /^aborted: TimeoutError: render of d-deadline-signal did not finish before the request's deadline/,
    );
    expect(line?.requestId).toBe('req-deadline');
  });
});

describe('fetch with a signal', () => {
  let server: Server;
  let origin: string;
  beforeAll(async () => {
    // Answers /slow only after the client has gone (never, for a fetch that is aborted).
    server = createServer((req, res) => {
      if (req.url === '/slow') return;
      res.end('fast');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('rejects with the reason of an aborted signal, before or while the call waits', async () => {
    const bundle = await loadBundle(
      `Flotilla.serve(async () => {
        const out = [];
        try { await fetch('backend://api/fast', { signal: AbortSignal.abort() }); } catch (e) { out.push(e.name); }
        const c = new AbortController();
        const slow = fetch('backend://api/slow', { signal: c.signal }).catch((e) => 'rejected: ' + e);
        setTimeout(() => c.abort('stop'), 20);
        out.push(await slow);
        out.push(await (await fetch('backend://api/fast', { signal: new AbortController().signal })).text());
        return Response.json(out);
      });`,
      { deploymentId: 'd-fetch-signal', backends: { api: origin } },
    );
    const res = await bundle.render(request());
    expect(JSON.parse(text(res.body))).toEqual(['AbortError', 'rejected: stop', 'fast']);
  });
});
