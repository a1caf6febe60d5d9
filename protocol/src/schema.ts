/**
 * The schema toolkit every package validates with: valibot (no Node
 * built-ins, no `eval`, so it runs inside isolates too) plus the message
 * conventions of Flotilla. A failed check names the field as a path
 * (`routes[3].cache.edge.maxAgeSeconds`) and the problem with the bad value
 * (`must be a non-negative integer (got -1)`).
 *
 * @module
 */
import * as v from 'valibot';
import { BACKEND_NAME, describeValue, isSubjectToken } from './patterns.ts';

/** Any valibot schema (synchronous). */
export type AnySchema = v.GenericSchema<unknown, unknown>;

/** A message of a schema: the problem, given the issue (its `input` is the bad value). */
export type Message = (issue: v.BaseIssue<unknown>) => string;

/** The problem followed by the bad value: `must be true or false (got 3)`. */
export function got(problem: string): Message {
  return (issue) => `${problem} (got ${describeValue(issue.input)})`;
}

/** True for a plain (non-array) object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A plain (non-array) object; anything else gets `message`. */
export function plainObject(message: Message = got('must be an object')) {
  return v.custom<Record<string, unknown>>(isPlainObject, message);
}

/** Names a table may not have: valibot drops them, so they are refused rather than lost. */
const RESERVED_NAMES = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * A plain object of user-chosen names → values (backends, variables, header
 * tables), each name checked by `key` (which may normalise it) and each value
 * by `value`. `__proto__`, `prototype` and `constructor` are refused by name.
 */
export function table<K extends v.GenericSchema<string, string>, V extends AnySchema>(
  key: K,
  value: V,
  notObject: Message = got('must be an object'),
) {
  return v.pipe(
    plainObject(notObject),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      for (const name of Object.keys(dataset.value)) {
        if (RESERVED_NAMES.has(name)) {
          addIssue({
            message: 'is not an allowed name',
            path: [
              { type: 'object', origin: 'key', input: dataset.value, key: name, value: undefined },
            ],
          });
          return;
        }
      }
    }),
    v.record(key, value),
  );
}

/** Options of {@link strictObject}. */
export interface StrictObjectOptions {
  /** What is said of a value that is not a plain object. @default got('must be an object') */
  notObject?: string | Message;
  /**
   * What is said of a missing required field.
   * @default what the field's own schema says of `undefined` (e.g. `must be a non-empty string (got nothing)`)
   */
  missing?: string;
  /** Fields accepted but not named in the "known fields" of a message (e.g. `$schema`). */
  unlisted?: readonly string[];
}

/**
 * A plain object with exactly these fields: an unknown field is refused by
 * name, listing the known ones, so a typo never silently drops an option.
 */
export function strictObject<const E extends v.ObjectEntries>(
  entries: E,
  options: StrictObjectOptions = {},
) {
  const notObject = options.notObject ?? got('must be an object');
  return v.pipe(
    plainObject(typeof notObject === 'string' ? () => notObject : notObject),
    strictFields(entries, options),
  );
}

/**
 * The fields part of {@link strictObject}, for the options of a
 * `v.variant` (which checks that the value is an object itself; wrap the
 * variant in `v.pipe(plainObject(), …)` to refuse arrays).
 */
export function strictFields<const E extends v.ObjectEntries>(
  entries: E,
  options: Omit<StrictObjectOptions, 'notObject'> = {},
) {
  const known = Object.keys(entries).filter((k) => !options.unlisted?.includes(k));
  return v.strictObject(entries, (issue) => {
    if (issue.expected === 'never') return `is not a known field (known: ${known.join(', ')})`;
    if (issue.path === undefined) return got('must be an object')(issue);
    if (options.missing !== undefined) return options.missing;
    const key = issue.path[0]?.key;
    const entry = typeof key === 'string' ? entries[key] : undefined;
    return (entry && firstIssue(entry, undefined)?.message) ?? 'is required';
  });
}

/** A string of at least one character. */
export function requiredString(message: Message = got('must be a non-empty string')) {
  return v.pipe(v.string(message), v.minLength(1, message));
}

/** A safe integer ≥ `min`. */
export function integer(min: number, message: Message) {
  return v.pipe(v.number(message), v.safeInteger(message), v.minValue(min, message));
}

/** A number within bounds, or `fallback` (a sender's bad value never fails the message). */
export function boundedNumber(min: number, max: number, fallback: number, integer = false) {
  return v.fallback(
    v.pipe(
      v.unknown(),
      v.transform(Number),
      v.number(),
      v.check(
        (n) => Number.isFinite(n) && n >= min && n <= max && (!integer || Number.isInteger(n)),
      ),
    ),
    fallback,
  );
}

/**
 * The message of an issue whose schema has none of its own: a missing field
 * `is required`, anything else names what was expected.
 */
function defaultMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.kind === 'schema' && issue.input === undefined && issue.expected?.startsWith('"')) {
    return 'is required';
  }
  return `must be ${issue.expected ?? 'valid'} (got ${describeValue(issue.input)})`;
}

const PARSE_CONFIG = { abortEarly: true, message: defaultMessage } as const;

/** The first issue of `value` against `schema`, or undefined when it passes. */
export function firstIssue(schema: AnySchema, value: unknown): v.BaseIssue<unknown> | undefined {
  return v.safeParse(schema, value, PARSE_CONFIG).issues?.[0];
}

/**
 * A field path in the form messages use: `routes[3].criteria.path`,
 * `backends.api`, starting from `base` (`''` for the root).
 */
export function fieldPath(base: string, path: readonly { key: unknown }[] | undefined): string {
  let field = base;
  for (const { key } of path ?? []) {
    if (typeof key === 'number') field = `${field}[${key}]`;
    else field = field === '' ? String(key) : `${field}.${String(key)}`;
  }
  return field;
}

/**
 * Checks `value` against `schema` and returns the output (normalised,
 * defaults applied), or throws what `fail` makes of the first problem.
 *
 * @param base - The path of `value` itself in messages (`''`: the root).
 * @param fail - Builds the error from the field path, the problem, and both
 * as one sentence (`limits.cpuMs must be …`, or the problem alone for the
 * value itself).
 * @example
 * parseOrThrow(LimitsSchema, json.limits, 'limits', (field, problem) =>
 *   new ManifestError(field, problem)); // limits.cpuMs must be a positive integer (got 0)
 */
export function parseOrThrow<S extends AnySchema>(
  schema: S,
  value: unknown,
  base: string,
  fail: (field: string, problem: string, said: string) => Error,
): v.InferOutput<S> {
  const result = v.safeParse(schema, value, PARSE_CONFIG);
  if (result.success) return result.output as v.InferOutput<S>;
  const issue = result.issues[0];
  const field = fieldPath(base, issue.path);
  throw fail(field, issue.message, say(field, issue.message));
}

/** `<field> <problem>`, or the problem alone for the value itself. */
function say(field: string, problem: string): string {
  return field === '' ? problem : `${field} ${problem}`;
}

/** A subject token (see {@link isSubjectToken}). */
export function subjectToken(
  message: Message = got('must be lower-case letters, digits and dashes'),
) {
  return v.custom<string>(isSubjectToken, message);
}

const BACKEND_NAME_PROBLEM =
  'is not a valid backend name: 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit';

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

const ORIGIN_PROBLEM =
  'must be an http: or https: origin with only scheme, host and port, e.g. "https://api.example.com"';

/**
 * A deployment's backends, name → origin, with the origins normalized
 * (`http://API.example:80/` → `http://api.example`). Names: 1–63 of `a-z`,
 * `0-9`, `-`, `_`, starting with a letter or digit. Origins: absolute
 * `http:`/`https:` URLs with nothing but scheme, host and port.
 */
export const BackendsSchema = table(
  v.pipe(v.string(), v.regex(BACKEND_NAME, BACKEND_NAME_PROBLEM)),
  v.pipe(
    v.string(got('must be an origin URL string')),
    // The pattern says it to JSON Schema too; the check is the whole rule.
    v.regex(/^https?:\/\//i, got(ORIGIN_PROBLEM)),
    v.check((origin) => normalizeOrigin(origin) !== undefined, got(ORIGIN_PROBLEM)),
    v.transform((origin) => normalizeOrigin(origin) as string),
  ),
  () => 'must be an object of backend name → origin URL',
);

/**
 * Validates backends (see {@link BackendsSchema}) and returns them with
 * origins normalized; `undefined` or `null` is none.
 *
 * @param fail - Builds the error for a bad entry from the field (`backends`,
 * `backends.api`) and the problem.
 * @param prefix - The field of the backends in messages. @default 'backends'
 */
export function validateBackends(
  value: unknown,
  fail: (field: string, problem: string) => Error,
  prefix = 'backends',
): Record<string, string> {
  if (value === undefined || value === null) return {};
  return parseOrThrow(BackendsSchema, value, prefix, fail);
}

/**
 * What is wrong with `value` against `schema` (`<field> <problem>`, or the
 * problem alone for the value itself), or undefined when it passes.
 */
export function problemOf(schema: AnySchema, value: unknown, base = ''): string | undefined {
  const issue = firstIssue(schema, value);
  if (issue === undefined) return undefined;
  return say(fieldPath(base, issue.path), issue.message);
}
