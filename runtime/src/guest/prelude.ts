/**
 * Runs first in every isolate context. Installs the web-standard globals a
 * bundle sees and `Flotilla.serve`, and returns the dispatcher the host calls
 * for each request. Host references arrive as arguments and stay in this
 * closure: bundle code can never reach them.
 */

import { AsyncLocalStorage, asyncContext, connectOwner, renderFrame } from './async-context.ts';
import { installClock, tick } from './clock.ts';
import { DOMException } from './dom-exception.ts';
import {
  GuestTextDecoder,
  GuestTextEncoder,
  type HostUtf8Decode,
  setHostUtf8Decode,
} from './encoding.ts';
import { AbortController, AbortSignal, connectEvents, Event, EventTarget } from './events.ts';
import { createFetch } from './fetch.ts';
import { attachSignal, Headers, Request, Response } from './fetch-api.ts';
import {
  type FetchHostCallback,
  type GuestRequestInit,
  type GuestResult,
  type HostCallback,
  MAX_TIMERS,
  type StreamHostCallback,
} from './host.ts';
import type { Installed } from './installed.ts';
import {
  PerformanceEntry,
  PerformanceMark,
  PerformanceMeasure,
  userTiming,
} from './performance.ts';
import { streamOut } from './stream-out.ts';
import { BodyTooLarge } from './streams.ts';
import { type HostRandom, installWebGlobals } from './web-globals.ts';

// The entry the host calls: install() with host functions bound late.
export { prepare } from './connect.ts';

/** A render's environment variables: a fresh frozen object per render. */
type Env = Readonly<Record<string, string>>;

type Handler = (request: Request, env: Env) => unknown;

/** Timer calls (set or clear) an isolate may make at once… */
const TIMER_OPS_BURST = 10_000;
/** …and per second after that. */
const TIMER_OPS_PER_S = 10_000;
/** Console output a bundle may send at once, in UTF-16 units… */
const LOG_BURST = 1_000_000;
/** …and per second after that. */
const LOG_RATE_PER_S = 1_000_000;
/** What one line costs besides its text (the host handles each line separately). */
const LOG_LINE_OVERHEAD = 100;

/**
 * RangeErrors V8 throws when an allocation is refused: an ArrayBuffer (or a
 * typed array's buffer) the heap cannot hold, and a string past V8's
 * longest (2^29 − 24 UTF-16 units, 512 MB one-byte: more than an isolate's
 * heap may hold at the limits Flotilla runs, so reaching it is running out
 * of memory by other means; a string-doubling loop often gets there before
 * the heap limit, because the strings it keeps are flat copies in large
 * object space). Both mean the render asked for more memory than it has.
 */
const ALLOCATION_REFUSED = /^(Array buffer allocation failed|Invalid string length)/;

/**
 * The code of an error a render threw: an allocation the isolate refused is
 * a memory limit (the host then disposes the isolate), anything else the
 * bundle's render error.
 */
function errorCodeOf(value: unknown): string {
  try {
    if (value instanceof RangeError && ALLOCATION_REFUSED.test(String(value.message))) {
      return 'FLOTILLA_ERR_MEMORY_LIMIT';
    }
  } catch {
    // a throwing getter: treat as a render error
  }
  return 'FLOTILLA_ERR_RENDER';
}

function describeThrown(value: unknown): string {
  try {
    if (value instanceof Error) return `${String(value.name)}: ${String(value.message)}`;
    return `non-Error thrown: ${typeof value === 'string' ? value : JSON.stringify(value)}`;
  } catch {
    // a throwing getter or toJSON
    return 'non-Error thrown';
  }
}

export function install(
  log: HostCallback,
  timers: HostCallback,
  fetchHost: FetchHostCallback,
  random: HostRandom,
  decodeUtf8: HostUtf8Decode,
  streamHost: StreamHostCallback,
): Installed {
  const g = globalThis as Record<string, unknown>;
  let handler: Handler | null = null;
  // Captured before the bundle runs: the bookkeeping of start/take/wait must
  // not go through builtins a bundle may patch. It calls no promise method
  // either (dispatch hands its result to the render's record itself), so a
  // patched Promise.prototype.then, as zone.js installs, cannot get in between.
  const apply = Reflect.apply;
  const mapGet = Map.prototype.get;
  const mapSet = Map.prototype.set;
  const mapDelete = Map.prototype.delete;
  // Each render's env is built with these (captured for the same reason: a
  // bundle replacing Object.freeze must not get a mutable env).
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const createObject = Object.create;
  const isArray = Array.isArray;
  const mapForEach = Map.prototype.forEach;
  const abortController = AbortController.prototype.abort;
  const signalOf = Object.getOwnPropertyDescriptor(AbortController.prototype, 'signal')?.get;
  // Before the bundle runs: its Date.now must not reset the host decoding budget.
  const dateNow = Date.now;
  setHostUtf8Decode(decodeUtf8, () => apply(dateNow, Date, []));

  /**
   * The `env` of one render: a new plain object (never shared, never stored
   * anywhere but the handler's argument) of the host's [name, value] pairs,
   * frozen. Own data properties only, defined (not assigned), so that an
   * `Object.prototype` setter or a `__proto__` name is just another key.
   */
  const makeEnv = (pairs: Array<[string, string]> | null): Env => {
    const env: Record<string, string> = {};
    if (isArray(pairs)) {
      for (let i = 0; i < pairs.length; i++) {
        const pair = pairs[i];
        if (!isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') continue;
        // A prototype-less descriptor: a bundle's `Object.prototype.get` cannot turn it into an accessor.
        const descriptor: PropertyDescriptor = createObject(null);
        descriptor.value = pair[1];
        descriptor.enumerable = true;
        // Until the freeze below: a repeated name then just takes the later value.
        descriptor.writable = true;
        descriptor.configurable = true;
        defineProperty(env, pair[0], descriptor);
      }
    }
    return freeze(env);
  };

  const define = (name: string, value: unknown) =>
    Object.defineProperty(g, name, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });

  define('Headers', Headers);
  define('Request', Request);
  define('Response', Response);
  define('TextEncoder', GuestTextEncoder);
  define('TextDecoder', GuestTextDecoder);
  define('self', globalThis);
  define('Event', Event);
  define('EventTarget', EventTarget);
  define('AbortController', AbortController);
  define('AbortSignal', AbortSignal);
  installWebGlobals(define, random);

  const formatOne = (a: unknown): string => {
    try {
      if (typeof a === 'string') return a;
      if (a instanceof Error) return `${String(a.name)}: ${String(a.message)}`;
      const json = JSON.stringify(a);
      return json === undefined ? String(a) : json; // undefined, functions, symbols
    } catch {
      try {
        return String(a); // bigint, cycles
      } catch {
        return '[unprintable]';
      }
    }
  };
  // The host keeps 8 KB of a line; cut here so a huge line is never copied out.
  const format = (args: unknown[]) => args.map(formatOne).join(' ').slice(0, 8192);
  // Request whose code runs now. Renders interleave in one isolate, so each
  // entry point from the host (dispatch, a timer firing) sets it, and the
  // microtasks that entry runs (await continuations) inherit it. Log lines
  // carry it, so concurrent renders' logs keep their own request ids.
  let current = '';

  // fetch: bridged to the host, which reaches only the declared backends.
  // An answer runs the awaiting code as the render that made the call.
  const fetcher = createFetch(
    fetchHost,
    () => current,
    (owner) => {
      current = owner;
    },
  );
  define('fetch', fetcher.fetch);
  // Code continuing a render's async context runs as that render, whichever entry runs it.
  connectOwner(
    () => current,
    (owner) => {
      current = owner;
    },
  );

  // Every log line crosses to the host and waits there in a queue, so a
  // bundle logging in a loop could fill the host's memory within one render.
  // A token bucket (in UTF-16 units, plus a per-line overhead) bounds it;
  // lines over budget are dropped and counted. `Date.now` is captured before
  // the bundle runs (as is Math.min), so it cannot fake time to refill the bucket.
  const now = Date.now;
  const min = Math.min;
  let logBudget = LOG_BURST;
  let logRefilled = now();
  let dropped = 0;
  let lastNotice = Number.NEGATIVE_INFINITY;
  const emit = (level: string, line: unknown, owner: string) => {
    // The bundle may patch the builtins `format` uses: trust only a string's length.
    const message = typeof line === 'string' ? line : '[unprintable]';
    const t = now();
    const refilled = logBudget + ((t - logRefilled) * LOG_RATE_PER_S) / 1000;
    logBudget = min(refilled, LOG_BURST);
    logRefilled = t;
    const cost = message.length + LOG_LINE_OVERHEAD;
    if (cost > logBudget) {
      dropped++;
      return;
    }
    if (dropped > 0 && t - lastNotice >= 1000) {
      log(
        'warn',
        `[flotilla] ${dropped} console line(s) dropped: the bundle logged too much`,
        owner,
      );
      logBudget -= LOG_LINE_OVERHEAD;
      dropped = 0;
      lastNotice = t;
    }
    logBudget -= cost;
    log(level, message, owner);
  };

  const consoleObj: Record<string, (...args: unknown[]) => void> = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    consoleObj[level] = (...args: unknown[]) => emit(level, format(args), current);
  }
  define('console', consoleObj);

  define('queueMicrotask', (cb: () => void) => {
    if (typeof cb !== 'function') throw new TypeError('queueMicrotask needs a function');
    const owner = current;
    // The callback runs in the async context it was queued in (AsyncLocalStorage).
    const frame = asyncContext.capture();
    Promise.resolve()
      .then(() => asyncContext.run(frame, cb))
      .catch((err: unknown) =>
        emit(
          'error',
          `Uncaught exception in queueMicrotask callback: ${describeThrown(err)}`,
          owner,
        ),
      );
  });

  // Each timer is a host timer until it fires or is cleared, and each set or
  // clear is a call queued on the host. Both are bounded, so that a loop of
  // setTimeout (or of setTimeout/clearTimeout) cannot fill the host's memory:
  // at most MAX_TIMERS alive, at most TIMER_OPS_PER_S calls a second (after a
  // burst). Past either, setTimeout throws a RangeError; a clearTimeout over
  // budget just forgets the callback (its host timer fires into nothing).
  let nextTimer = 1;
  const live = new Set<number>();
  // `every`: an interval's period (ms, at least 1); it is set again after each run.
  const pending = new Map<number, { run: () => void; owner: string; every?: number }>();
  // Pending timers per request id (prototype-less: `take` reads it after
  // bundle code ran). A render with any cannot be taken synchronously.
  const timersOf: Record<string, number> = Object.create(null);
  /** Requests whose render answered and that are not settled yet. */
  const answered: Record<string, true> = Object.create(null);
  const forgetTimer = (owner: string) => {
    const n = timersOf[owner];
    if (n === undefined) return;
    if (n > 1) timersOf[owner] = n - 1;
    else delete timersOf[owner];
  };
  let timerOps = TIMER_OPS_BURST;
  let opsRefilled = now();
  const takeTimerOp = (): boolean => {
    const t = now();
    const refilled = timerOps + ((t - opsRefilled) * TIMER_OPS_PER_S) / 1000;
    timerOps = min(refilled, TIMER_OPS_BURST);
    opsRefilled = t;
    if (timerOps < 1) return false;
    timerOps -= 1;
    return true;
  };
  const addTimer = (
    name: string,
    repeat: boolean,
    cb: (...a: unknown[]) => void,
    ms: unknown,
    args: unknown[],
  ): number => {
    if (typeof cb !== 'function') throw new TypeError(`${name} needs a function`);
    if (live.size >= MAX_TIMERS) {
      throw new RangeError(`${name}: more than ${MAX_TIMERS} timers pending`);
    }
    if (!takeTimerOp()) {
      throw new RangeError(`${name}: called more than ${TIMER_OPS_PER_S} times a second`);
    }
    const id = nextTimer++;
    const delay = Math.max(0, Number(ms) || 0);
    live.add(id);
    // The callback runs in the async context it was set in (AsyncLocalStorage).
    const frame = asyncContext.capture();
    pending.set(id, {
      run: () => asyncContext.run(frame, cb, args),
      owner: current,
      // As Node does, an interval runs at most once a millisecond.
      every: repeat ? Math.max(1, delay) : undefined,
    });
    timersOf[current] = (timersOf[current] ?? 0) + 1;
    timers('set', id, repeat ? Math.max(1, delay) : delay, current);
    return id;
  };
  const setTimer = (cb: (...a: unknown[]) => void, ms?: unknown, ...args: unknown[]): number =>
    addTimer('setTimeout', false, cb, ms, args);
  define('setTimeout', setTimer);
  // An interval is one timer set again after each run; like every timer it is
  // cancelled when its render answers, so it never runs past its render.
  define('setInterval', (cb: (...a: unknown[]) => void, ms?: unknown, ...args: unknown[]) =>
    addTimer('setInterval', true, cb, ms, args),
  );
  // A listener's exception is reported like a timer callback's; AbortSignal.timeout uses the
  // prelude's own setTimeout (a render's timer: cancelled when the render answers).
  connectEvents(
    (err) => emit('error', `Uncaught exception in event listener: ${describeThrown(err)}`, current),
    (run, ms) => setTimer(run, ms),
  );
  // One id space for timeouts and intervals, as in browsers and Node: either clear stops either.
  const clearTimer = (id: unknown) => {
    if (typeof id !== 'number') return;
    const timer = pending.get(id);
    if (timer === undefined) return;
    pending.delete(id);
    forgetTimer(timer.owner);
    if (live.has(id) && takeTimerOp()) {
      live.delete(id);
      timers('clear', id, 0, '');
    }
  };
  define('clearTimeout', clearTimer);
  define('clearInterval', clearTimer);

  define(
    'Flotilla',
    Object.freeze({
      serve(h: unknown) {
        if (handler !== null) throw new Error('Flotilla.serve was already called');
        if (typeof h === 'function') handler = h as Handler;
        else if (h && typeof (h as { fetch?: unknown }).fetch === 'function') {
          const obj = h as { fetch: Handler };
          handler = (req, env) => obj.fetch(req, env);
        } else {
          throw new TypeError('Flotilla.serve needs a function or an object with a fetch method');
        }
      },
      // `import { AsyncLocalStorage } from 'node:async_hooks'` in a built bundle (see async-context.ts).
      AsyncLocalStorage,
    }),
  );

  // Renders started with `start` and not yet taken or waited for.
  interface Started {
    owner: string;
    promise: Promise<GuestResult> | undefined;
    result: GuestResult | undefined;
  }
  const started = new Map<number, Started>();
  // The controller of each render running (its request's signal follows it), by render.
  const running = new Map<AbortController, string>();

  const streams = streamOut(streamHost);

  /** Renders one request; its result also goes to `record` (before any promise settles). */
  async function dispatch(init: GuestRequestInit, record?: Started): Promise<GuestResult> {
    const controller = new AbortController();
    const signal: AbortSignal = apply(signalOf as () => AbortSignal, controller, []);
    // The render's own async context: its AsyncLocalStorage stores end with it.
    const context = renderFrame(init.requestId);
    const done = (result: GuestResult): GuestResult => {
      // Its timers never fire from now on (see fireTimer).
      answered[init.requestId] = true;
      context.end();
      // An ended render's signal never aborts, and nothing here keeps it.
      apply(mapDelete, running, [controller]);
      if (record !== undefined) record.result = result;
      return result;
    };
    if (handler === null) {
      return done({
        ok: false,
        code: 'FLOTILLA_ERR_BUNDLE',
        message: 'bundle registered no handler',
      });
    }
    current = init.requestId;
    apply(mapSet, running, [controller, init.requestId]);
    let response: unknown;
    try {
      const request = new Request(init.url, {
        method: init.method,
        headers: init.headers,
        body: init.body,
      });
      attachSignal(request, signal);
      response = await asyncContext.run(context.frame, handler, [request, makeEnv(init.env)]);
    } catch (err) {
      return done({ ok: false, code: errorCodeOf(err), message: describeThrown(err) });
    }
    if (!(response instanceof Response)) {
      return done({
        ok: false,
        code: 'FLOTILLA_ERR_RENDER',
        message: `handler returned ${response === null ? 'null' : typeof response}, not a Response`,
      });
    }
    let parts: { text: string | null; bytes: Uint8Array | null };
    try {
      const stream = init.stream === true ? response.takeStream() : null;
      if (stream !== null) {
        const streamedChunks = await streams.send(
          init.requestId,
          response,
          stream,
          init.maxBodyBytes,
          signal,
        );
        return done({
          ok: true,
          status: response.status,
          headers: response.headers.toList(),
          bodyText: null,
          bodyBytes: null,
          streamedChunks,
        });
      }
      // Reads a stream body to its end, never past the output cap.
      parts = await response.toParts(init.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        return done({ ok: false, code: 'FLOTILLA_ERR_OUTPUT_LIMIT', message: err.message });
      }
      return done({ ok: false, code: errorCodeOf(err), message: describeThrown(err) });
    }
    return done({
      ok: true,
      status: response.status,
      headers: response.headers.toList(),
      bodyText: parts.text,
      bodyBytes: parts.bytes,
    });
  }

  // Last: the prelude's own bookkeeping above captured the real clock.
  const timing = userTiming(() => current);
  installClock(define, timing.methods);
  define('PerformanceEntry', PerformanceEntry);
  define('PerformanceMark', PerformanceMark);
  define('PerformanceMeasure', PerformanceMeasure);

  /** Forgets what request `requestId` left behind; returns its pending timers' ids (see `settle`). */
  const settleRequest = (requestId: string): number[] => {
    delete answered[requestId];
    fetcher.settle(requestId);
    timing.forget(requestId);
    const ids: number[] = [];
    for (const [id, timer] of pending) {
      if (timer.owner === requestId) ids.push(id);
    }
    for (const id of ids) {
      pending.delete(id);
      live.delete(id);
    }
    delete timersOf[requestId];
    return ids;
  };

  const entries: Installed = {
    dispatch(init, id, forget, settled) {
      entries.start(init, id, forget, settled);
      return entries.wait(id);
    },
    start(init, id, forget, settled) {
      tick();
      if (isArray(settled)) {
        for (let i = 0; i < settled.length; i++) settleRequest(String(settled[i]));
      }
      if (isArray(forget)) {
        for (let i = 0; i < forget.length; i++) {
          const done: Started | undefined = apply(mapGet, started, [forget[i]]);
          if (done !== undefined) {
            timing.forget(done.owner);
            delete answered[done.owner];
          }
          apply(mapDelete, started, [forget[i]]);
        }
      }
      delete answered[init.requestId];
      const render: Started = { owner: init.requestId, promise: undefined, result: undefined };
      apply(mapSet, started, [id, render]);
      // dispatch rejects only if bundle code broke the prelude's own objects
      // (no result then): `wait` hands that rejection to the host.
      render.promise = dispatch(init, render);
    },
    take(id) {
      const render: Started | undefined = apply(mapGet, started, [id]);
      if (render?.result === undefined) return null;
      if (timersOf[render.owner] !== undefined || fetcher.made(render.owner)) return null;
      apply(mapDelete, started, [id]);
      timing.forget(render.owner);
      delete answered[render.owner];
      return render.result;
    },
    wait(id) {
      const render: Started | undefined = apply(mapGet, started, [id]);
      if (render === undefined) {
        return { ok: false, code: 'FLOTILLA_ERR_INTERNAL', message: `no render ${id} to wait for` };
      }
      // Kept until the host names it in `forget` (see `start`).
      return render.result ?? (render.promise as Promise<GuestResult>);
    },
    hasHandler: () => handler !== null,
    abort(requestId, message) {
      tick();
      const hit: AbortController[] = [];
      apply(mapForEach, running, [
        (owner: string, c: AbortController) => {
          if (owner === requestId) hit[hit.length] = c;
        },
      ]);
      current = requestId;
      // Its listeners run in no render's async context (as the host's abort belongs to none).
      asyncContext.runInRoot(() => {
        for (let i = 0; i < hit.length; i++) {
          apply(abortController, hit[i], [new DOMException(String(message), 'TimeoutError')]);
        }
      });
      // A stream waiting for credit sees its signal aborted.
      streams.wake(requestId);
    },
    credit(requestId, bytes) {
      tick();
      streams.credit(requestId, bytes);
    },
    deliverFetch(id, result) {
      tick();
      fetcher.deliver(id, result);
    },
    settle: (requestId) => settleRequest(requestId),
    fireTimer(id) {
      tick();
      live.delete(id);
      const timer = pending.get(id);
      if (!timer) return;
      if (answered[timer.owner] === true) {
        // Its render answered: the host may not have settled it yet (it
        // does so with the next render), but a timer never outlives its render.
        pending.delete(id);
        forgetTimer(timer.owner);
        return;
      }
      if (timer.every === undefined) {
        pending.delete(id);
        forgetTimer(timer.owner);
      }
      current = timer.owner;
      try {
        timer.run();
      } catch (err) {
        // As in browsers: an exception in a timer callback is reported, not fatal.
        const name = timer.every === undefined ? 'setTimeout' : 'setInterval';
        emit('error', `Uncaught exception in ${name} callback: ${describeThrown(err)}`, current);
      }
      // Not cleared by its own callback, and its render still runs: the interval goes on.
      if (timer.every !== undefined && pending.get(id) === timer) {
        live.add(id);
        timers('set', id, timer.every, timer.owner);
      }
    },
  };
  return entries;
}
