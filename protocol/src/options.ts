import { InvalidOptionError } from './errors.ts';
import { describeValue, isSubjectToken } from './patterns.ts';

/** A structured log line: `msg`, an optional `level`, and any fields. */
export type LogLine = Record<string, unknown>;

/**
 * The `log` option of Flotilla's components: writes one {@link LogLine}. The
 * fleet passes its logger; the components stay logger-agnostic.
 */
export type LogFn = (line: LogLine) => void;

/**
 * Validators for options objects. Each returns the value (or its default) and
 * throws {@link InvalidOptionError} naming the option when it is wrong.
 */

/** A positive integer option, `fallback` when undefined. */
export function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new InvalidOptionError(name, `must be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}

/** A non-negative integer option (0 allowed), `fallback` when undefined. */
export function nonNegativeInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidOptionError(name, `must be an integer ≥ 0, got ${describeValue(value)}`);
  }
  return value;
}

/** A non-empty string option, `fallback` when undefined (no fallback: required). */
export function nonEmptyString(name: string, value: unknown, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidOptionError(name, `must be a non-empty string, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * A subject-token option (region, shield, worker id: see
 * {@link isSubjectToken}); required.
 */
export function subjectTokenOption(name: string, value: unknown): string {
  if (!isSubjectToken(value)) {
    throw new InvalidOptionError(
      name,
      `must be lower-case letters, digits and dashes, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** A required object collaborator (connection, registry, …). */
export function required<T>(name: string, value: T | undefined | null): T {
  if (value === undefined || value === null) throw new InvalidOptionError(name, 'is required');
  return value;
}
