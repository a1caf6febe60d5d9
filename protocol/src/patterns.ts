/**
 * The name and value rules every package shares, defined once: subject
 * tokens, app and backend names, HTTP tokens, hosts, path prefixes, hashes, and how a bad
 * value is shown in a message. No imports and ES built-ins only, so the
 * guest code inside an isolate can import this module too
 * (`@flotilla/protocol/patterns`).
 *
 * @module
 */

/**
 * A NATS subject token: region, worker, shield and scheduler ids, app and
 * environment names. 1–63 lower-case letters, digits and dashes, starting
 * with a letter or digit, so it can never inject a wildcard or an extra token.
 */
export const SUBJECT_TOKEN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A streamed body's id: the rendering worker's id (a subject token) and a number, `<workerId>.<n>`. */
export const STREAM_ID = /^[a-z0-9][a-z0-9-]{0,62}\.[0-9]{1,15}$/;

/**
 * An app name: 1–50 lower-case letters, digits and `-`, not starting or
 * ending with `-`. With its 13-character hash suffix a deployment id stays
 * one 63-character host label.
 */
export const APP_NAME = /^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$/;

/** A deployment id: `<app>-<first 12 hex of the manifest's contentHash>`. */
export const DEPLOYMENT_ID = /^[a-z0-9][a-z0-9-]{0,62}-[0-9a-f]{12}$/;

/**
 * A backend name: 1–63 characters of `a-z`, `0-9`, `-` and `_`, starting
 * with a letter or digit. Lower case only (a `backend://API/…` URL still
 * reaches `api`: URL hosts are case-insensitive).
 */
export const BACKEND_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A router destination's name (EdgeJS `destination(name, router)`), e.g. `legacy_experience`. */
export const DESTINATION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * An HTTP token (RFC 9110 §5.6.2): header names, cookie names, methods.
 * Test a lower-cased name against it to accept lower case only.
 */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A header name as it crosses the wire and the isolate boundary: a
 * lower-case HTTP token.
 */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/** What a header value must not contain: CR, LF or NUL (header injection). */
export const UNSAFE_HEADER_VALUE = /[\r\n\0]/;

/** A host as a route lists it: lower case, no scheme or path (IPv6 in brackets). */
export const HOST = /^[a-z0-9.\-[\]:]+$/;

/**
 * A path prefix an app is served under (`x-forwarded-prefix`): one or more
 * `/segment`s of URL path characters, an optional trailing `/`. A URL,
 * `//host`, spaces or control characters never match, so a prefix that
 * passes can be put in front of a link as it is.
 */
export const PATH_PREFIX = /^(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)+\/?$/;

/** A sha256 in lower-case hex. */
export const HEX64 = /^[0-9a-f]{64}$/;

/** True when `name` is usable as a region, worker, app or environment id in a subject. */
export function isSubjectToken(name: unknown): name is string {
  return typeof name === 'string' && SUBJECT_TOKEN.test(name);
}

/**
 * A bad value as an error message shows it: strings quoted (cut at 80
 * characters), `an array`, `an object`,
 * `a function`, anything else as `String()` gives it. With `typed`, strings,
 * numbers and booleans get their type first (`string "html"`).
 *
 * @example
 * `limits.cpuMs must be a positive integer (got ${describeValue('5s')})` // … (got "5s")
 */
export function describeValue(value: unknown, options: { typed?: boolean } = {}): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  const shown =
    typeof value === 'string'
      ? JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
      : String(value);
  return options.typed && typeof value !== 'symbol' && typeof value !== 'bigint'
    ? `${typeof value} ${shown}`
    : shown;
}

/**
 * The hop-by-hop headers of RFC 9110 §7.6.1 (and the obsolete
 * `proxy-connection`): never forwarded by the shield, a proxy route or a
 * render's backend fetch, either way.
 */
export const HOP_BY_HOP_HEADERS: readonly string[] = Object.freeze([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
