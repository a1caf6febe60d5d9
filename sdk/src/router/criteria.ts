/**
 * Route criteria as the Router takes them, turned into the manifest's form:
 * `RegExp` values of query parameters, headers and cookies become
 * `{ regex, flags }` (the manifest is JSON; the shield and the bundle
 * compile the same pattern).
 *
 * @module
 */
import { regexSpecOf } from '@flotilla/manifest';
import { InvalidRouteError } from './errors.ts';

const VALUE_TABLES = ['query', 'headers', 'cookies'] as const;

/**
 * A copy of `criteria` with each `RegExp` value replaced by its
 * `{ regex, flags }` form; anything else is left for validation to judge.
 *
 * @example
 * criteriaWithRegexSpecs({ path: '/', headers: { 'x-h': /^a/i } });
 * // { path: '/', headers: { 'x-h': { regex: '^a', flags: 'i' } } }
 */
export function criteriaWithRegexSpecs(criteria: unknown): unknown {
  if (typeof criteria !== 'object' || criteria === null || Array.isArray(criteria)) {
    return criteria;
  }
  let out: Record<string, unknown> | undefined;
  for (const field of VALUE_TABLES) {
    const table = (criteria as Record<string, unknown>)[field];
    if (typeof table !== 'object' || table === null || Array.isArray(table)) continue;
    const values = Object.entries(table);
    if (!values.some(([, value]) => value instanceof RegExp)) continue;
    out ??= { ...(criteria as Record<string, unknown>) };
    out[field] = Object.fromEntries(
      values.map(([name, value]) => [name, value instanceof RegExp ? regexSpecOf(value) : value]),
    );
  }
  return out ?? criteria;
}

/**
 * Refuses a `RegExp` given as a route's path (`match(/^\/p\/\d+$/)`, or
 * `{ path: /…/ }`): paths are patterns the manifest carries.
 *
 * @throws InvalidRouteError naming the call and the expression.
 */
export function refuseRegExpPath(call: string, pathOrCriteria: unknown): void {
  const path =
    pathOrCriteria instanceof RegExp
      ? pathOrCriteria
      : (pathOrCriteria as { path?: unknown } | null)?.path;
  if (path instanceof RegExp) {
    throw new InvalidRouteError(
      `${call}: a regular expression as the path (${String(path)}) is not supported; write a path pattern, with a constraint for what the expression checked (e.g. "/p/:id(\\d+)")`,
    );
  }
}
