import { InvalidOptionError } from './errors.ts';

/**
 * Validators for options objects. Each returns the value (or its default) and
 * throws {@link InvalidOptionError} naming the option when it is wrong.
 */

/** A positive integer option, `fallback` when undefined. */
export function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new InvalidOptionError(name, `must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

/** A non-negative integer option (0 allowed), `fallback` when undefined. */
export function nonNegativeInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidOptionError(name, `must be an integer ≥ 0, got ${describe(value)}`);
  }
  return value;
}

/** A non-empty string option, `fallback` when undefined (no fallback: required). */
export function nonEmptyString(name: string, value: unknown, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidOptionError(name, `must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

/** A required object collaborator (connection, registry, …). */
export function required<T>(name: string, value: T | undefined | null): T {
  if (value === undefined || value === null) throw new InvalidOptionError(name, 'is required');
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/**
 * The normalized origin of a backend (`new URL(origin).origin`: lower-case
 * host, no default port, no trailing slash), or `undefined` when `origin` is
 * not an absolute http(s) origin (scheme, host, port; no path, query,
 * fragment or credentials).
 */
export function normalizeOrigin(origin: unknown): string | undefined {
  if (typeof origin !== 'string' || /[?#]/.test(origin)) return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '' || url.pathname !== '/') return undefined;
  return url.origin;
}
