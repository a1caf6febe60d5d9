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

/** The request deadline a shield gives each request when not told otherwise, in ms. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Most a render's wall limit is kept below the request deadline, in ms (see {@link wallLimitBelow}). */
export const WALL_LIMIT_MARGIN_MS = 2000;

/**
 * The longest wall limit a render may have under a request deadline of
 * `deadlineMs`: the deadline less a margin ({@link WALL_LIMIT_MARGIN_MS}, or
 * a fifth of a shorter deadline), so that a runaway render ends with
 * `FLOTILLA_ERR_WALL_LIMIT` (blamed on its bundle) while the answer can still
 * reach the client, never with the fleet's `504 FLOTILLA_ERR_DEADLINE`.
 *
 * @example wallLimitBelow(10_000) // 8000
 */
export function wallLimitBelow(deadlineMs: number): number {
  return Math.max(1, deadlineMs - Math.min(WALL_LIMIT_MARGIN_MS, Math.floor(deadlineMs / 5)));
}

/**
 * An operator's wall limit checked against the request deadline: one at or
 * above {@link wallLimitBelow} the deadline is clamped to it, with a warning
 * for the log; `undefined` means the default, `wallLimitBelow(deadlineMs)`.
 */
export function wallLimitFor(
  wallMs: number | undefined,
  deadlineMs: number,
): { wallMs: number; warning?: string } {
  const most = wallLimitBelow(deadlineMs);
  if (wallMs === undefined) return { wallMs: most };
  if (wallMs <= most) return { wallMs };
  return {
    wallMs: most,
    warning: `wall limit ${wallMs} ms is not below the ${deadlineMs} ms request deadline: clamped to ${most} ms, so that a runaway render answers FLOTILLA_ERR_WALL_LIMIT rather than 504 FLOTILLA_ERR_DEADLINE`,
  };
}
