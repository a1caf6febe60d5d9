/**
 * What a route matches (`criteria` of a manifest route).
 *
 * @module
 */

import { HOST, HTTP_TOKEN } from '@flotilla/protocol/patterns';
import { got, strictObject, table } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { compilePattern } from './pattern.ts';
import { RegexSpecSchema } from './regex-schema.ts';
import type { HttpMethod } from './schema-fields.ts';
import { headerName, list, method, text, unique } from './schema-fields.ts';

/** Name → exact value, `true` for "present with any value", or a regular expression. */
const matchTable = <K extends v.GenericSchema<string, string>>(key: K) =>
  table(
    key,
    v.union(
      [v.literal(true), v.string(), RegexSpecSchema],
      got('must be an exact value (a string), true for "present" or { regex, flags }'),
    ),
    got('must be an object of name → exact value, true or { regex, flags }'),
  );

const hostName = v.pipe(
  text(),
  v.check((h) => HOST.test(h.toLowerCase()), got('must be a host name without scheme or path')),
  v.check((h) => {
    const lower = h.toLowerCase();
    // One colon and digits after it is a port; IPv6 has several colons or brackets.
    return !(
      /:[0-9]*$/.test(lower) &&
      !lower.endsWith(']') &&
      lower.indexOf(':') === lower.lastIndexOf(':')
    );
  }, got('must not have a port')),
  v.transform((h) => h.toLowerCase()),
);

/**
 * What a route matches, EdgeJS style. `path` is a pattern: literal segments,
 * `:name` (one segment), `:name?` (optional segment), `:name*` (zero or more
 * segments), `:name+` (one or more segments), each optionally constrained
 * (`:id(\\d+)`: every segment must match it whole). Every other field
 * narrows it; a query, header or cookie value is exact, `true` (present) or
 * `{ regex, flags }` (`RegExp.test` on the value).
 * Methods are upper-cased, hosts and header names lower-cased.
 */
export const RouteCriteriaSchema = strictObject({
  /** Path pattern, e.g. `/p/:productId`, `/:splat*`, `/docs/:page?`, `/p/:id(\\d+)`. */
  path: v.pipe(
    text(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      try {
        compilePattern(dataset.value);
      } catch (err) {
        addIssue({ message: (err as { problem?: string }).problem ?? String(err) });
      }
    }),
  ),
  /** Methods matched; absent: every method. Upper case. */
  method: v.optional(
    v.pipe(
      list(method),
      v.minLength(1, 'must list at least one method (leave it out for every method)'),
      unique<HttpMethod>(),
    ),
  ),
  /** Host names matched (lower case, no port); absent: any host. */
  host: v.optional(
    v.pipe(
      list(hostName),
      v.minLength(1, 'must list at least one host (leave it out for every host)'),
    ),
  ),
  /**
   * Query parameters that must be present: name → exact value, `true` for
   * "present with any value", or `{ regex, flags }` (any value matching).
   */
  query: v.optional(matchTable(v.string())),
  /** Request headers that must be present (lower-case name → exact value, `true` or `{ regex, flags }`). */
  headers: v.optional(matchTable(headerName())),
  /** Cookies that must be present (name → exact value, `true` or `{ regex, flags }`). */
  cookies: v.optional(
    matchTable(v.pipe(v.string(), v.regex(HTTP_TOKEN, 'is not a valid cookie name'))),
  ),
});

/** What a route matches ({@link RouteCriteriaSchema}). */
export type RouteCriteria = v.InferOutput<typeof RouteCriteriaSchema>;
