import { combinations, sharedCounter, startAtZero } from '@flotilla/metrics';
import { InvalidOptionError, type LogFn, positiveInt } from '@flotilla/protocol';
import { type Counter, Registry } from 'prom-client';
import { type CacheTimers, timersOption } from './timers.ts';

/**
 * What {@link Revalidator.revalidate} did: `started` a background
 * revalidation, or nothing because one already runs for the key
 * (`duplicate`), `maxConcurrent` are running (`saturated`) or the
 * revalidator is draining (`draining`).
 */
export type RevalidateStart = 'started' | 'duplicate' | 'saturated' | 'draining';

/** Options of {@link Revalidator}. */
export interface RevalidatorOptions {
  /**
   * Longest one revalidation may run, in ms: then its AbortSignal aborts,
   * it counts as `timeout` and the key is free for the next one (even if
   * the function ignores the signal).
   * @default 30000
   */
  timeoutMs?: number;
  /**
   * Revalidations running at once over all keys; past it `revalidate` does
   * nothing (`saturated`): the stale copy is still served and a later stale
   * hit tries again.
   * @default 64
   */
  maxConcurrent?: number;
  /**
   * Registry for `flotilla_shield_revalidations_total{outcome}` (reused
   * when already registered there).
   * @default a private Registry
   */
  registry?: Registry;
  /** Timers for the per-revalidation deadline. @default Node's timers, unref'd */
  timers?: CacheTimers;
  /** Structured log sink; failed revalidations are logged here. @default no logging */
  log?: LogFn;
}

interface Running {
  // Resolves when the revalidation settled or timed out (never rejects).
  readonly done: Promise<void>;
}

/**
 * Background revalidation for stale-while-revalidate: at most one
 * revalidation per key at a time, never awaited by the caller, errors
 * swallowed (counted in `flotilla_shield_revalidations_total{outcome}` and
 * logged).
 *
 * Outcomes: `ok`, `error`, `timeout` (ran past `timeoutMs`), and the calls
 * that started nothing: `duplicate`, `saturated`, `draining`.
 *
 * @example
 * const revalidator = new Revalidator({ registry });
 * if (entryIsStaleButWithinSwr) {
 *   revalidator.revalidate(key, async (signal) => store.set(key, await render(req, signal)));
 *   return serve(entry);
 * }
 * // on shutdown
 * await revalidator.drain();
 */
export class Revalidator {
  readonly #running = new Map<string, Running>();
  readonly #timeoutMs: number;
  readonly #maxConcurrent: number;
  readonly #timers: CacheTimers;
  readonly #log: LogFn | undefined;
  readonly #outcomes: Counter<'outcome'>;
  #draining = false;

  constructor(options: RevalidatorOptions = {}) {
    this.#timeoutMs = positiveInt('timeoutMs', options.timeoutMs, 30_000);
    this.#maxConcurrent = positiveInt('maxConcurrent', options.maxConcurrent, 64);
    this.#timers = timersOption(options.timers);
    if (options.log !== undefined && typeof options.log !== 'function') {
      throw new InvalidOptionError('log', 'must be a function');
    }
    this.#log = options.log;
    const registry = options.registry ?? new Registry();
    this.#outcomes = sharedCounter(registry, {
      name: 'flotilla_shield_revalidations_total',
      help: 'Stale-while-revalidate background revalidations, by outcome (ok, error, timeout, duplicate, saturated, draining).',
      labelNames: ['outcome'],
    });
    startAtZero(
      this.#outcomes,
      combinations({ outcome: ['ok', 'error', 'timeout', 'duplicate', 'saturated', 'draining'] }),
    );
  }

  /** Revalidations running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Whether a revalidation of `key` is running. */
  isRunning(key: string): boolean {
    return this.#running.has(key);
  }

  /**
   * Starts `fn` in the background unless a revalidation of `key` already
   * runs (or the revalidator is saturated or draining). Never throws for
   * what `fn` does and never waits for it: `fn` starts on a later microtask.
   */
  revalidate(key: string, fn: (signal: AbortSignal) => Promise<unknown>): RevalidateStart {
    if (typeof key !== 'string') throw new InvalidOptionError('key', 'must be a string');
    if (typeof fn !== 'function') throw new InvalidOptionError('fn', 'must be a function');
    let skipped: RevalidateStart | undefined;
    if (this.#draining) skipped = 'draining';
    else if (this.#running.has(key)) skipped = 'duplicate';
    else if (this.#running.size >= this.#maxConcurrent) skipped = 'saturated';
    if (skipped !== undefined) {
      this.#outcomes.inc({ outcome: skipped });
      return skipped;
    }

    const controller = new AbortController();
    let finish!: (outcome: 'ok' | 'error' | 'timeout', err?: unknown) => void;
    const done = new Promise<void>((resolve) => {
      let finished = false;
      finish = (outcome, err) => {
        if (finished) return;
        finished = true;
        this.#timers.clearTimeout(timer);
        if (this.#running.get(key) === entry) this.#running.delete(key);
        this.#outcomes.inc({ outcome });
        if (outcome !== 'ok') {
          this.#log?.({
            msg: 'revalidation failed',
            key,
            outcome,
            error: err instanceof Error ? err.message : String(err),
          });
        }
        resolve();
      };
    });
    const entry: Running = { done };
    const timer = this.#timers.setTimeout(() => {
      const err = new Error(
        `revalidation of ${JSON.stringify(key)} ran past ${this.#timeoutMs} ms`,
      );
      controller.abort(err);
      finish('timeout', err);
    }, this.#timeoutMs);
    this.#running.set(key, entry);
    Promise.resolve()
      .then(() => fn(controller.signal))
      .then(
        () => finish('ok'),
        (err: unknown) => finish('error', err),
      );
    return 'started';
  }

  /**
   * Refuses new revalidations (`draining`) and resolves once those running
   * have finished (each is bounded by `timeoutMs`).
   */
  async drain(): Promise<void> {
    this.#draining = true;
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }
}
