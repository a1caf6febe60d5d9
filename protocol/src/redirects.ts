/**
 * An environment's redirect table (EdgeJS "bulk redirects"): rows of
 * `from` path → `to` location with a status, imported with `flotilla
 * redirects import`, kept in the control plane per environment and
 * answered by the shield itself, without a render.
 *
 * @module
 */
import * as v from 'valibot';
import { UNSAFE_HEADER_VALUE } from './patterns.ts';
import { got, strictObject } from './schema.ts';

/** Status codes a table redirect may use (as a route's `redirect`). */
export const TABLE_REDIRECT_STATUSES: readonly number[] = Object.freeze([301, 302, 303, 307, 308]);

/** Rows one environment's table may hold. */
export const MAX_REDIRECT_ROWS = 100_000;

/** Rows one import request carries (a few hundred KB, well under a NATS message). */
export const REDIRECT_BATCH_ROWS = 2000;

/** Longest `from` or `to`, in characters. */
export const MAX_REDIRECT_URL_CHARS = 2048;

/** One redirect: a request for path `from` gets `status` with `Location: to`. */
export const RedirectRowSchema = strictObject(
  {
    /** The path matched exactly (no query, no fragment), e.g. `/old/page`. */
    from: v.pipe(
      v.string(got('must be a string')),
      v.minLength(1, 'is required'),
      v.maxLength(MAX_REDIRECT_URL_CHARS, `must be at most ${MAX_REDIRECT_URL_CHARS} characters`),
      v.startsWith('/', got('must be a path starting with "/"')),
      v.check((from) => !/[?#\s]/.test(from), got('must be a path without "?", "#" or spaces')),
    ),
    /** Where to: a path (`/new/page`) or an http(s) URL. */
    to: v.pipe(
      v.string(got('must be a string')),
      v.minLength(1, 'is required'),
      v.maxLength(MAX_REDIRECT_URL_CHARS, `must be at most ${MAX_REDIRECT_URL_CHARS} characters`),
      v.check(
        (to) => to.startsWith('/') || /^https?:\/\/[^/\s]/i.test(to),
        got('must be a path ("/…") or an http(s) URL'),
      ),
      v.check(
        (to) => !UNSAFE_HEADER_VALUE.test(to) && !/\s/.test(to),
        got('must not contain spaces, CR, LF or NUL'),
      ),
    ),
    /** 301, 302, 303, 307 or 308. @default 301 */
    status: v.optional(
      v.picklist(
        TABLE_REDIRECT_STATUSES as number[],
        got(`must be one of ${TABLE_REDIRECT_STATUSES.join(', ')}`),
      ),
      301,
    ),
    /** Append the request's query string to `to`. @default false */
    forwardQueryString: v.optional(v.boolean(got('must be true or false')), false),
  },
  { missing: 'is required' },
);

/** One redirect row, as given ({@link RedirectRowSchema}). */
export type RedirectRowInput = v.InferInput<typeof RedirectRowSchema>;
/** One redirect row, checked and with its defaults. */
export type RedirectRow = v.InferOutput<typeof RedirectRowSchema>;

/** The problem of a row, `undefined` when it is valid (`field: problem`). */
export function redirectRowProblem(row: unknown): string | undefined {
  const result = v.safeParse(RedirectRowSchema, row);
  if (result.success) return undefined;
  const issue = result.issues[0];
  const field = issue.path?.map((p) => String(p.key)).join('.');
  return field ? `${field} ${issue.message}` : issue.message;
}

/** The row checked, with its defaults. @throws Error naming the field */
export function parseRedirectRow(row: unknown): RedirectRow {
  const problem = redirectRowProblem(row);
  if (problem !== undefined) throw new Error(problem);
  return v.parse(RedirectRowSchema, row);
}

/**
 * The `Location` of `row` for a request whose query string is `query`
 * (without `?`, `''` for none), below path prefix `prefix` (`''`, or `/<app>`
 * when the shield routed by path prefix: a path target stays under it).
 */
export function redirectLocation(row: RedirectRow, query: string, prefix = ''): string {
  let location = row.to.startsWith('/') ? `${prefix}${row.to}` : row.to;
  if (row.forwardQueryString && query !== '') {
    const hash = location.indexOf('#');
    const fragment = hash === -1 ? '' : location.slice(hash);
    const base = hash === -1 ? location : location.slice(0, hash);
    location = `${base}${base.includes('?') ? '&' : '?'}${query}${fragment}`;
  }
  return location;
}
