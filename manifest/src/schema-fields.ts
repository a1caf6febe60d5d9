/**
 * The small field schemas the manifest's parts share (strings, booleans,
 * lists, header names and values, HTTP methods), each with the manifest's
 * own `must be … (got …)` messages.
 *
 * @module
 */

import { HTTP_TOKEN, UNSAFE_HEADER_VALUE } from '@flotilla/protocol/patterns';
import { got, integer, requiredString } from '@flotilla/protocol/schema';
import * as v from 'valibot';

/** HTTP methods a route may list. */
export const HTTP_METHODS = Object.freeze([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
] as const);

/** HTTP methods a route can match. */
export type HttpMethod = (typeof HTTP_METHODS)[number];

export const oneOf = (values: readonly unknown[]) => got(`must be one of ${values.join(', ')}`);

/** Builds `must be … (got …)` messages of the manifest's own vocabulary. */
export const text = () => requiredString();
export const nonNegativeInt = () => integer(0, got('must be a non-negative integer'));
export const bool = () => v.boolean(got('must be true or false'));
export const list = <S extends v.GenericSchema>(item: S) => v.array(item, got('must be an array'));
export const noCrLf = (message = 'must not contain CR, LF or NUL') =>
  v.check((s: string) => !UNSAFE_HEADER_VALUE.test(s), message);
export const unique = <T>() => v.transform((items: T[]) => [...new Set(items)]);

/** A header name: an HTTP token, lower-cased. */
export const headerName = () =>
  v.pipe(
    text(),
    v.regex(HTTP_TOKEN, got('must be an HTTP header name (a token)')),
    v.transform((name) => name.toLowerCase()),
  );

export const headerValue = () => v.pipe(v.string(got('must be a string')), noCrLf());

export const method = v.pipe(
  text(),
  v.check(
    (m) => (HTTP_METHODS as readonly string[]).includes(m.toUpperCase()),
    oneOf(HTTP_METHODS),
  ),
  v.transform((m) => m.toUpperCase() as HttpMethod),
);
