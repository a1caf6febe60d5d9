import { InvalidOptionError } from '@flotilla/protocol';
import { describeValue } from '@flotilla/protocol/patterns';

/**
 * Validators for the autoscaler's numeric options that the protocol
 * package's integer validators do not cover. Each returns the value (or its
 * default) and throws {@link InvalidOptionError} naming the option.
 */

/** A finite number > 0 (fractions allowed), `fallback` when undefined. */
export function positiveNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(name, `must be a finite number > 0, got ${describeValue(value)}`);
  }
  return value;
}

/** A finite number ≥ `min` (fractions allowed), `fallback` when undefined. */
export function numberAtLeast(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(
      name,
      `must be a finite number ≥ ${min}, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** A function option, `fallback` when undefined. */
export function fn<T>(name: string, value: T | undefined, fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') {
    throw new InvalidOptionError(name, `must be a function, got ${describeValue(value)}`);
  }
  return value;
}

/** A required function option. */
export function requiredFn<T>(name: string, value: T | undefined): T {
  if (value === undefined || value === null) throw new InvalidOptionError(name, 'is required');
  return fn(name, value, value);
}
