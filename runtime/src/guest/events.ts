/**
 * DOM events and aborting, as the WHATWG DOM standard defines them for a
 * target without a tree: `Event`, `EventTarget`, `AbortController` and
 * `AbortSignal` (`abort()`, `timeout()`, `any()`). Framework servers need
 * them: React Router reads `request.signal`, React's stream renderer
 * listens to a signal, Angular and Nuxt abort with controllers.
 *
 * All state is in private fields: a bundle cannot reach another target's
 * listeners or a signal's sources. An exception a listener throws is
 * reported (to the render's log, as browsers report it) and does not stop
 * the other listeners.
 */

import { sinceOrigin } from './clock.ts';
import { DOMException } from './dom-exception.ts';

type Callback = ((event: Event) => unknown) | { handleEvent(event: Event): unknown };

interface Listener {
  type: string;
  callback: Callback;
  capture: boolean;
  once: boolean;
  passive: boolean;
  removed: boolean;
}

/** Where a listener's exception goes (the prelude points it at the render's log). */
let report: (error: unknown) => void = () => {};
/** The prelude's own setTimeout (a bundle replacing the global cannot change `AbortSignal.timeout`). */
let timer: (run: () => void, ms: number) => unknown = () => {
  throw new TypeError('AbortSignal.timeout: timers are not available');
};

/** Called once by the prelude's `install()`. */
export function connectEvents(
  reportError: (error: unknown) => void,
  setTimer: (run: () => void, ms: number) => unknown,
): void {
  report = reportError;
  timer = setTimer;
}

const NONE = 0;
const AT_TARGET = 2;

// Filled by the classes' static blocks: private state shared between them, out of the bundle's reach.
let beginDispatch: (event: Event, target: EventTarget, trusted: boolean) => void;
let endDispatch: (event: Event) => void;
let setPassive: (event: Event, passive: boolean) => void;
let stoppedImmediately: (event: Event) => boolean;
let isDispatching: (event: Event) => boolean;

export class Event {
  static readonly NONE = 0;
  static readonly CAPTURING_PHASE = 1;
  static readonly AT_TARGET = 2;
  static readonly BUBBLING_PHASE = 3;

  #type: string;
  #bubbles: boolean;
  #cancelable: boolean;
  #composed: boolean;
  #target: EventTarget | null = null;
  #currentTarget: EventTarget | null = null;
  #phase = NONE;
  #canceled = false;
  #stopPropagation = false;
  #stopImmediate = false;
  #passive = false;
  #dispatching = false;
  #trusted = false;
  // The guest's coarse clock (see clock.ts), as `performance.now()`.
  #timeStamp = sinceOrigin();

  constructor(type: string, ...[eventInitDict]: [EventInit?]) {
    // biome-ignore lint/complexity/noArguments: WebIDL counts the arguments given (a missing one throws, an undefined one does not)
    if (arguments.length === 0) {
      throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
    }
    this.#type = String(type);
    const init = eventInitDict ?? {};
    if (typeof init !== 'object') throw new TypeError('Event: the init argument must be an object');
    this.#bubbles = Boolean(init.bubbles);
    this.#cancelable = Boolean(init.cancelable);
    this.#composed = Boolean(init.composed);
  }

  static {
    beginDispatch = (event, target, trusted) => {
      event.#dispatching = true;
      event.#trusted = trusted;
      event.#target = target;
      event.#currentTarget = target;
      event.#phase = AT_TARGET;
    };
    endDispatch = (event) => {
      event.#dispatching = false;
      event.#currentTarget = null;
      event.#phase = NONE;
      event.#stopPropagation = false;
      event.#stopImmediate = false;
      event.#passive = false;
    };
    setPassive = (event, passive) => {
      event.#passive = passive;
    };
    stoppedImmediately = (event) => event.#stopImmediate;
    isDispatching = (event) => event.#dispatching;
  }

  get type(): string {
    return this.#type;
  }
  get target(): EventTarget | null {
    return this.#target;
  }
  /** Legacy alias of `target`. */
  get srcElement(): EventTarget | null {
    return this.#target;
  }
  get currentTarget(): EventTarget | null {
    return this.#currentTarget;
  }
  get eventPhase(): number {
    return this.#phase;
  }
  get bubbles(): boolean {
    return this.#bubbles;
  }
  get cancelable(): boolean {
    return this.#cancelable;
  }
  get composed(): boolean {
    return this.#composed;
  }
  get defaultPrevented(): boolean {
    return this.#canceled;
  }
  /** True for events the runtime fires (a signal's `abort`), false for `dispatchEvent`'s. */
  get isTrusted(): boolean {
    return this.#trusted;
  }
  get timeStamp(): number {
    return this.#timeStamp;
  }
  get cancelBubble(): boolean {
    return this.#stopPropagation;
  }
  set cancelBubble(value: boolean) {
    if (value) this.#stopPropagation = true;
  }
  get returnValue(): boolean {
    return !this.#canceled;
  }
  set returnValue(value: boolean) {
    if (!value) this.preventDefault();
  }

  composedPath(): EventTarget[] {
    return this.#dispatching && this.#currentTarget !== null ? [this.#currentTarget] : [];
  }
  stopPropagation(): void {
    this.#stopPropagation = true;
  }
  stopImmediatePropagation(): void {
    this.#stopPropagation = true;
    this.#stopImmediate = true;
  }
  preventDefault(): void {
    if (this.#cancelable && !this.#passive) this.#canceled = true;
  }
  /** Legacy initialiser: re-initialises an event that is not being dispatched. */
  initEvent(type: string, bubbles = false, cancelable = false): void {
    if (this.#dispatching) return;
    this.#type = String(type);
    this.#bubbles = Boolean(bubbles);
    this.#cancelable = Boolean(cancelable);
    this.#canceled = false;
    this.#stopPropagation = false;
    this.#stopImmediate = false;
    this.#trusted = false;
    this.#target = null;
  }

  get [Symbol.toStringTag](): string {
    return 'Event';
  }
}

export interface EventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
}

interface ListenerOptions {
  capture?: boolean;
  once?: boolean;
  passive?: boolean;
  signal?: AbortSignal;
}

/** `options` of add/removeEventListener: a boolean (capture) or a dictionary. */
function flatten(options: unknown): ListenerOptions {
  if (options === null || options === undefined) return {};
  if (typeof options !== 'object' && typeof options !== 'function') {
    return { capture: Boolean(options) };
  }
  const o = options as Record<string, unknown>;
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError("addEventListener: option 'signal' must be an AbortSignal");
  }
  return {
    capture: Boolean(o.capture),
    once: Boolean(o.once),
    passive: Boolean(o.passive),
    ...(signal !== undefined ? { signal } : {}),
  };
}

let fireTrusted: (target: EventTarget, event: Event) => void;

export class EventTarget {
  /** Listeners in the order added; created on the first one (most signals never get any). */
  #listeners: Listener[] | null = null;

  static {
    fireTrusted = (target, event) => target.#dispatch(event, true);
  }

  addEventListener(
    type: string,
    callback: Callback | null,
    ...[options]: [(boolean | ListenerOptions)?]
  ): void {
    // biome-ignore lint/complexity/noArguments: WebIDL counts the arguments given (a missing one throws, an undefined one does not)
    if (arguments.length < 2) {
      throw new TypeError('addEventListener: 2 arguments required');
    }
    const { capture = false, once = false, passive = false, signal } = flatten(options);
    if (callback === null || callback === undefined) return;
    if (typeof callback !== 'function' && typeof callback !== 'object') {
      throw new TypeError('addEventListener: the listener must be a function or an object');
    }
    if (signal?.aborted) return;
    const name = String(type);
    this.#listeners ??= [];
    for (const l of this.#listeners) {
      if (l.type === name && l.callback === callback && l.capture === capture) return;
    }
    const listener: Listener = { type: name, callback, capture, once, passive, removed: false };
    this.#listeners.push(listener);
    if (signal !== undefined) addAbortAlgorithm(signal, () => this.#remove(listener));
  }

  removeEventListener(
    type: string,
    callback: Callback | null,
    ...[options]: [(boolean | ListenerOptions)?]
  ): void {
    // biome-ignore lint/complexity/noArguments: WebIDL counts the arguments given (a missing one throws, an undefined one does not)
    if (arguments.length < 2) {
      throw new TypeError('removeEventListener: 2 arguments required');
    }
    const capture =
      typeof options === 'object' && options !== null
        ? Boolean((options as ListenerOptions).capture)
        : Boolean(options);
    const name = String(type);
    const found = this.#listeners?.find(
      (l) => l.type === name && l.callback === callback && l.capture === capture,
    );
    if (found !== undefined) this.#remove(found);
  }

  dispatchEvent(event: Event): boolean {
    if (!(event instanceof Event)) {
      throw new TypeError("dispatchEvent: parameter 1 is not of type 'Event'");
    }
    if (isDispatching(event)) {
      throw new DOMException('The event is already being dispatched.', 'InvalidStateError');
    }
    return this.#dispatch(event, false);
  }

  #remove(listener: Listener): void {
    listener.removed = true;
    if (this.#listeners === null) return;
    const i = this.#listeners.indexOf(listener);
    if (i >= 0) this.#listeners.splice(i, 1);
  }

  #dispatch(event: Event, trusted: boolean): boolean {
    beginDispatch(event, this, trusted);
    try {
      const list = this.#listeners;
      if (list !== null && list.length > 0) {
        // A copy: listeners added during dispatch do not run now; removed ones are skipped.
        const snapshot = list.filter((l) => l.type === event.type);
        // At the target, capturing listeners run first, then the others.
        for (const capturePass of [true, false]) {
          for (const l of snapshot) {
            if (l.capture !== capturePass || l.removed) continue;
            if (l.once) this.#remove(l);
            setPassive(event, l.passive);
            invoke(l.callback, this, event);
            setPassive(event, false);
            if (stoppedImmediately(event)) break;
          }
          if (stoppedImmediately(event)) break;
        }
      }
    } finally {
      endDispatch(event);
    }
    return !event.defaultPrevented;
  }

  get [Symbol.toStringTag](): string {
    return 'EventTarget';
  }
}

function invoke(callback: Callback, target: EventTarget, event: Event): void {
  try {
    if (typeof callback === 'function') {
      callback.call(target, event);
      return;
    }
    const handleEvent = callback.handleEvent;
    if (typeof handleEvent !== 'function') {
      throw new TypeError("the listener's handleEvent is not a function");
    }
    handleEvent.call(callback, event);
  } catch (error) {
    report(error);
  }
}

// ---- AbortSignal and AbortController ---------------------------------------------------------

/** Only the runtime constructs signals (`new AbortSignal()` is a TypeError, as in browsers). */
const CONSTRUCT = Symbol('AbortSignal');
/** Dead weak references a source tolerates before it sweeps them. */
const SWEEP_AT = 64;

let addAbortAlgorithm: (signal: AbortSignal, algorithm: () => void) => void;
let signalAbort: (signal: AbortSignal, reason: unknown) => void;
let newSignal: () => AbortSignal;

export class AbortSignal extends EventTarget {
  #aborted = false;
  #reason: unknown;
  /** Internal steps run before the `abort` event (removing listeners added with `{ signal }`). */
  #algorithms: Array<() => void> | null = null;
  #onabort: unknown = null;
  #onabortListener: ((event: Event) => void) | null = null;
  /** Signals made by `any()` that follow this one, held weakly (a long-lived source must not keep them). */
  #dependents: Set<WeakRef<AbortSignal>> | null = null;
  /** Those of them with abort listeners: kept alive while this source can still abort. */
  #held: Set<AbortSignal> | null = null;
  /** For a signal made by `any()`: what it follows. */
  #sources: AbortSignal[] | null = null;

  constructor(key?: unknown) {
    if (key !== CONSTRUCT) throw new TypeError('Illegal constructor');
    super();
  }

  static {
    newSignal = () => new AbortSignal(CONSTRUCT);
    addAbortAlgorithm = (signal, algorithm) => {
      if (signal.#aborted) return;
      signal.#algorithms ??= [];
      signal.#algorithms.push(algorithm);
      signal.#hold();
    };
    signalAbort = (signal, reason) => {
      if (signal.#aborted) return;
      const why =
        reason === undefined
          ? new DOMException('This operation was aborted', 'AbortError')
          : reason;
      signal.#aborted = true;
      signal.#reason = why;
      const followers: AbortSignal[] = [];
      for (const ref of signal.#dependents ?? []) {
        const dependent = ref.deref();
        if (dependent === undefined || dependent.#aborted) continue;
        dependent.#aborted = true;
        dependent.#reason = why;
        followers.push(dependent);
      }
      signal.#dependents = null;
      signal.#held = null;
      signal.#runAbortSteps();
      for (const dependent of followers) dependent.#runAbortSteps();
    };
  }

  /** An already aborted signal (`reason` defaults to an `AbortError` DOMException). */
  static abort(...[reason]: [unknown?]): AbortSignal {
    const signal = newSignal();
    signal.#aborted = true;
    signal.#reason =
      reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    return signal;
  }

  /**
   * A signal that aborts with a `TimeoutError` DOMException after `ms`
   * milliseconds. Its timer is a render's timer: one the render leaves
   * pending is cancelled when the render answers, so the signal then never aborts.
   */
  static timeout(ms: number): AbortSignal {
    const delay = Number(ms);
    if (!Number.isFinite(delay) || delay < 0 || delay > Number.MAX_SAFE_INTEGER) {
      throw new TypeError(
        `AbortSignal.timeout: ${String(ms)} is not a valid number of milliseconds`,
      );
    }
    const signal = newSignal();
    timer(
      () =>
        signalAbort(
          signal,
          new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
        ),
      Math.trunc(delay),
    );
    return signal;
  }

  /** A signal that aborts, with the same reason, as soon as any of `signals` does. */
  static any(signals: Iterable<AbortSignal>): AbortSignal {
    if (signals === null || typeof signals !== 'object' || !(Symbol.iterator in signals)) {
      throw new TypeError('AbortSignal.any: the argument must be an iterable of AbortSignal');
    }
    const list = [...signals];
    for (const s of list) {
      if (!(s instanceof AbortSignal)) {
        throw new TypeError('AbortSignal.any: every item must be an AbortSignal');
      }
    }
    const result = newSignal();
    for (const s of list) {
      if (s.#aborted) {
        result.#aborted = true;
        result.#reason = s.#reason;
        return result;
      }
    }
    const sources = new Set<AbortSignal>();
    for (const s of list) {
      // Follow the sources of a signal that itself follows others (a flat graph, as in the standard).
      for (const source of s.#sources ?? [s]) sources.add(source);
    }
    result.#sources = [...sources];
    const ref = new WeakRef(result);
    for (const source of sources) {
      source.#dependents ??= new Set();
      const set = source.#dependents;
      set.add(ref);
      if (set.size >= SWEEP_AT && set.size % SWEEP_AT === 0) {
        for (const r of set) if (r.deref() === undefined) set.delete(r);
      }
    }
    return result;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  get onabort(): unknown {
    return this.#onabort;
  }

  /** An event handler attribute: its listener is added where it was first set. */
  set onabort(handler: unknown) {
    this.#onabort = typeof handler === 'function' || typeof handler === 'object' ? handler : null;
    if (this.#onabort !== null && this.#onabortListener === null) {
      this.#onabortListener = (event: Event) => {
        const h = this.#onabort;
        if (typeof h === 'function' && h.call(this, event) === false) event.preventDefault();
      };
      super.addEventListener('abort', this.#onabortListener);
    }
  }

  override addEventListener(
    type: string,
    callback: Callback | null,
    ...[options]: [(boolean | ListenerOptions)?]
  ): void {
    // biome-ignore lint/complexity/noArguments: WebIDL counts the arguments given (a missing one throws, an undefined one does not)
    if (arguments.length < 2) throw new TypeError('addEventListener: 2 arguments required');
    super.addEventListener(type, callback, options);
    if (String(type) === 'abort' && callback !== null && callback !== undefined) this.#hold();
  }

  /** A signal made by `any()` that something listens to stays alive as long as its sources. */
  #hold(): void {
    if (this.#sources === null || this.#aborted) return;
    for (const source of this.#sources) {
      if (source.#aborted) continue;
      source.#held ??= new Set();
      source.#held.add(this);
    }
  }

  #runAbortSteps(): void {
    const algorithms = this.#algorithms;
    this.#algorithms = null;
    for (const source of this.#sources ?? []) source.#held?.delete(this);
    this.#sources = null;
    if (algorithms !== null) {
      for (const algorithm of algorithms) {
        try {
          algorithm();
        } catch (error) {
          report(error);
        }
      }
    }
    fireTrusted(this, new Event('abort'));
  }

  override get [Symbol.toStringTag](): string {
    return 'AbortSignal';
  }
}

export class AbortController {
  readonly #signal = newSignal();

  get signal(): AbortSignal {
    return this.#signal;
  }

  /** Aborts the signal (`reason` defaults to an `AbortError` DOMException); later calls do nothing. */
  abort(...[reason]: [unknown?]): void {
    signalAbort(this.#signal, reason);
  }

  get [Symbol.toStringTag](): string {
    return 'AbortController';
  }
}

/** A signal following `signal` (a Request's signal follows its init's, as in the Fetch standard). */
export function followingSignal(signal: AbortSignal): AbortSignal {
  return AbortSignal.any([signal]);
}
