/**
 * `AsyncLocalStorage` for bundles (`Flotilla.AsyncLocalStorage`; the build
 * maps `import { AsyncLocalStorage } from 'node:async_hooks'` to it).
 *
 * The isolate gives no hook into V8's async context (no promise hooks, no
 * continuation-preserved data), so the context is carried by hand: the
 * current frame is captured wherever a callback is queued, and restored
 * while it runs. Callbacks are queued by `Promise.prototype.then` (patched
 * once the first AsyncLocalStorage exists; `catch`, `finally` and
 * `Promise.all` call it), `setTimeout`, `setInterval` and `queueMicrotask`.
 * A native `await` does not call `then`: the build lowers the async
 * functions of bundles that import `node:async_hooks` to generators over
 * promises (esbuild's `supported` flags), whose awaits do.
 *
 * Renders interleave in one isolate, so every render starts in a frame of
 * its own ({@link renderFrame}) and the frames of one render die with it: once
 * it answered, `getStore()` in any of its frames (a callback still queued on
 * a promise another render settles, a `snapshot()` or `bind()` kept in
 * module state) is `undefined`. Where the context is lost (code the build did
 * not lower, a thenable's `then` run by V8), code runs in the empty root
 * frame: it gets `undefined`, never another render's store.
 *
 * @module
 */

/** A render's life: its frames read their stores only while it is live. */
interface Scope {
  live: boolean;
  /** The render's request id: code running in its frames runs as that render (see {@link connectOwner}). */
  readonly owner: string;
}

/**
 * One binding of an AsyncLocalStorage to a store, over the frame it was
 * made in: a chain that `getStore` walks (it never grows past the nesting of
 * `run` calls). Frames are never changed after they are made.
 */
interface Frame {
  readonly scope: Scope | null;
  readonly key: object | null;
  readonly value: unknown;
  readonly parent: Frame | null;
}

/** Outside any render and any `run`: no stores. */
const ROOT: Frame = { scope: null, key: null, value: undefined, parent: null };

// Captured before any bundle runs: a bundle replacing them cannot get between.
const apply = Reflect.apply;
const originalThen = Promise.prototype.then;
const defineProperty = Object.defineProperty;

let current: Frame = ROOT;
/** How many {@link runIn} calls are on the stack: 0 in code the runtime did not enter (see enterWith). */
let depth = 0;
let patched = false;
/** The prelude's request id of the code running now (logs, timers and fetches are the render's). */
let owner: { get(): string; set(owner: string): void } | null = null;

/**
 * Lets frames switch the request id code runs as: a callback of render A
 * that a promise of render B settles runs as A (its log lines, timers and
 * fetches are A's), while A is live.
 */
export function connectOwner(get: () => string, set: (owner: string) => void): void {
  owner = { get, set };
}

/** Runs `fn` in `frame`, then puts back the frame it was called in. */
function runIn<R>(frame: Frame, fn: (...args: never[]) => R, thisArg: unknown, args: unknown[]): R {
  const previous = current;
  const scope = frame.scope;
  const was = scope?.live && owner !== null ? owner.get() : null;
  if (was !== null) owner?.set((scope as Scope).owner);
  current = frame;
  depth++;
  try {
    return apply(fn, thisArg, args);
  } finally {
    current = previous;
    depth--;
    if (was !== null) owner?.set(was);
  }
}

/**
 * The frame a `bind` or `snapshot` function made in `frame` runs its
 * function in: that frame when called in the same render (or made outside
 * any render), else the root frame. Called from another render's code, it
 * must not hand that code the stores of the render it was made in.
 */
function boundFrame(frame: Frame): Frame {
  return frame.scope === null || frame.scope === current.scope ? frame : ROOT;
}

/** `fn` bound to `frame`, for a promise reaction. */
function reaction(frame: Frame, fn: (value: unknown) => unknown): (value: unknown) => unknown {
  return (value) => runIn(frame, fn, undefined, [value]);
}

/**
 * Makes `Promise.prototype.then` carry the caller's frame to its reactions.
 * Done once, when the first AsyncLocalStorage is made: bundles that never
 * make one pay nothing. Reactions queued in the root frame are wrapped
 * too: `enterWith` in them then ends with them.
 */
function patchThen(): void {
  if (patched) return;
  patched = true;
  // A function named `then`, of length 2, as the one it replaces.
  function then(this: unknown, onFulfilled?: unknown, onRejected?: unknown): unknown {
    const frame = current;
    return apply(originalThen, this, [
      typeof onFulfilled === 'function'
        ? reaction(frame, onFulfilled as (v: unknown) => unknown)
        : onFulfilled,
      typeof onRejected === 'function'
        ? reaction(frame, onRejected as (v: unknown) => unknown)
        : onRejected,
    ]);
  }
  defineProperty(Promise.prototype, 'then', {
    value: then,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

/** What the prelude uses to carry the context through timers, microtasks and renders. */
export interface AsyncContext {
  /** The frame code runs in now, to capture where a callback is queued. */
  capture(): unknown;
  /** Runs `fn(...args)` in a frame {@link capture} returned. */
  run<R>(frame: unknown, fn: (...args: never[]) => R, args?: unknown[]): R;
  /** Runs host-entered code (a signal the host aborts) in the root frame. */
  runInRoot<R>(fn: () => R): R;
}

export const asyncContext: AsyncContext = {
  capture: () => current,
  run: (frame, fn, args = []) => runIn(frame as Frame, fn, undefined, args),
  runInRoot: (fn) => runIn(ROOT, fn, undefined, []),
};

/**
 * A new render's first frame (no stores), and `end`, which ends the render's
 * frames: after it, no frame made in the render reads a store.
 */
export function renderFrame(requestId: string): { frame: unknown; end: () => void } {
  const scope: Scope = { live: true, owner: requestId };
  return {
    frame: { scope, key: null, value: undefined, parent: null } satisfies Frame,
    end: () => {
      scope.live = false;
    },
  };
}

/** Options of the AsyncLocalStorage constructor (Node's). */
interface AsyncLocalStorageOptions {
  /** What `getStore()` returns outside any `run` of this instance. */
  defaultValue?: unknown;
  /** The instance's `name`. */
  name?: string;
}

/**
 * Node's `AsyncLocalStorage`: a store per async context. `run`, `getStore`,
 * `exit`, `enterWith`, `disable`, and the statics `bind` and `snapshot`.
 */
export class AsyncLocalStorage<T = unknown> {
  #enabled = true;
  readonly #defaultValue: T | undefined;
  readonly #name: string;

  constructor(options?: AsyncLocalStorageOptions) {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new TypeError('AsyncLocalStorage: options must be an object');
    }
    this.#defaultValue = options?.defaultValue as T | undefined;
    this.#name = options?.name === undefined ? '' : String(options.name);
    patchThen();
  }

  get name(): string {
    return this.#name;
  }

  /** The store of the context code runs in, or the default value outside any `run`. */
  getStore(): T | undefined {
    if (!this.#enabled) return undefined;
    for (let frame: Frame | null = current; frame !== null; frame = frame.parent) {
      if (frame.scope !== null && !frame.scope.live) return undefined;
      if (frame.key === this) return frame.value as T | undefined;
    }
    return this.#defaultValue;
  }

  /** Runs `fn(...args)` with `store` as this instance's store, and in everything it queues. */
  run<R, A extends unknown[]>(store: T, fn: (...args: A) => R, ...args: A): R {
    if (typeof fn !== 'function') throw new TypeError('AsyncLocalStorage.run needs a function');
    this.#enabled = true;
    const frame: Frame = { scope: current.scope, key: this, value: store, parent: current };
    return runIn(frame, fn as unknown as (...a: never[]) => R, undefined, args);
  }

  /** Runs `fn(...args)` without this instance's store. */
  exit<R, A extends unknown[]>(fn: (...args: A) => R, ...args: A): R {
    return this.run(undefined as T, fn, ...args);
  }

  /**
   * Makes `store` this instance's store for the rest of the callback (or
   * render entry) that runs now, and for what it queues. Refused in code the
   * runtime did not enter (code the build did not lower, after a native
   * `await`), where it would last past its callback into other code.
   */
  enterWith(store: T): void {
    if (depth === 0) {
      throw new Error(
        'AsyncLocalStorage.enterWith: no async context to enter here (code the Flotilla build did not lower, after a native await); use run() instead',
      );
    }
    this.#enabled = true;
    current = { scope: current.scope, key: this, value: store, parent: current };
  }

  /** `getStore()` returns undefined until the next `run` or `enterWith`. */
  disable(): void {
    this.#enabled = false;
  }

  /**
   * `fn`, bound to the context it is bound in. Called from code of another
   * render, it runs with no store (a render never reads another's stores).
   */
  static bind<F extends (...args: never[]) => unknown>(fn: F): F {
    if (typeof fn !== 'function') throw new TypeError('AsyncLocalStorage.bind needs a function');
    const frame = current;
    return function (this: unknown, ...args: unknown[]) {
      return runIn(boundFrame(frame), fn, this, args);
    } as unknown as F;
  }

  /**
   * A function that runs its first argument in the context the snapshot was
   * taken in (with no store when called from code of another render).
   */
  static snapshot(): <R, A extends unknown[]>(fn: (...args: A) => R, ...args: A) => R {
    const frame = current;
    return (fn, ...args) => {
      if (typeof fn !== 'function') {
        throw new TypeError('AsyncLocalStorage.snapshot(): the argument must be a function');
      }
      return runIn(
        boundFrame(frame),
        fn as unknown as (...a: never[]) => ReturnType<typeof fn>,
        undefined,
        args,
      );
    };
  }
}
