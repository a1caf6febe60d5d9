/**
 * The timers the cache modules wait with, injectable so tests can drive
 * time by hand.
 *
 * @module
 */
import { InvalidOptionError } from '@flotilla/protocol';

/**
 * The timer functions the cache modules use, injectable so tests can drive
 * time by hand. Handles are opaque.
 */
export interface CacheTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd: a pending wait never keeps the process alive on its own. */
export const systemTimers: CacheTimers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/** The `timers` option: {@link systemTimers} when undefined, validated otherwise. */
export function timersOption(timers: CacheTimers | undefined): CacheTimers {
  const t = timers ?? systemTimers;
  if (typeof t.setTimeout !== 'function' || typeof t.clearTimeout !== 'function') {
    throw new InvalidOptionError('timers', 'must have setTimeout and clearTimeout functions');
  }
  return t;
}
