/**
 * The header rules of a route's `headerOps`, applied to headers: one
 * implementation for the bundle's router (on what a render, `compute()` or
 * a backend answered) and for the shield (on what it answers itself: a
 * redirect, a proxied origin, a static file). Pure: headers are edited in
 * place through {@link HeaderBag}, which the standard `Headers` satisfies.
 *
 * @module
 */
import type { HeaderOp } from './header-op-schema.ts';
import type { RegexSpec } from './regex.ts';

/**
 * The part of the standard `Headers` the rules use. Names are matched
 * case-insensitively; `append` of `set-cookie` keeps each cookie apart.
 */
export interface HeaderBag {
  get(name: string): string | null;
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  delete(name: string): void;
}

type CorsOp = Extract<HeaderOp, { op: 'cors' }>;

/** The header ops applied to the final response. */
export const RESPONSE_OPS: ReadonlySet<HeaderOp['op']> = new Set([
  'setResponse',
  'removeResponse',
  'updateResponse',
  'addResponseCookie',
  'cors',
]);

/** The header ops applied to the answer of the route's action (render or backend). */
export const UPSTREAM_OPS: ReadonlySet<HeaderOp['op']> = new Set([
  'removeUpstreamResponse',
  'setUpstreamResponse',
  'updateUpstreamResponse',
]);

/** The header ops applied to the request before the action sees it. */
export const REQUEST_OPS: ReadonlySet<HeaderOp['op']> = new Set([
  'setRequest',
  'removeRequest',
  'updateRequest',
]);

/** True when `ops` has an op of `kinds`. */
export function hasOps(ops: readonly HeaderOp[], kinds: ReadonlySet<HeaderOp['op']>): boolean {
  return ops.some((op) => kinds.has(op.op));
}

/**
 * `${req:name}` in a header value, replaced by the request header `name`
 * of `original` (lower-case names), or `''` when it has none.
 */
export function interpolateHeader(value: string, original: Record<string, string>): string {
  return value.replace(/\$\{req:([^}]+)\}/g, (_all, name: string) => {
    const key = name.trim().toLowerCase();
    return Object.hasOwn(original, key) ? (original[key] as string) : '';
  });
}

/** Replaces what a header rule's regex matches in header `op.name`, when present. */
export function replaceHeader(
  headers: HeaderBag,
  op: RegexSpec & { name: string; replacement: string },
): void {
  const value = headers.get(op.name);
  if (value === null) return;
  headers.set(op.name, value.replace(new RegExp(op.regex, op.flags), op.replacement));
}

/**
 * The request rules (`setRequestHeader`, `removeRequestHeader`,
 * `updateRequestHeader`), in call order; `${req:name}` reads `original`.
 */
export function applyRequestRules(
  headers: HeaderBag,
  ops: readonly HeaderOp[],
  original: Record<string, string>,
): void {
  for (const op of ops) {
    if (op.op === 'setRequest') headers.set(op.name, interpolateHeader(op.value, original));
    else if (op.op === 'removeRequest') headers.delete(op.name);
    else if (op.op === 'updateRequest') replaceHeader(headers, op);
  }
}

/**
 * The upstream rules (`removeUpstreamResponseHeader`,
 * `setUpstreamResponseHeader`, `updateUpstreamResponseHeader`) on the
 * answer of the route's render or backend, in call order.
 */
export function applyUpstreamRules(headers: HeaderBag, ops: readonly HeaderOp[]): void {
  for (const op of ops) {
    if (op.op === 'removeUpstreamResponse') headers.delete(op.name);
    else if (op.op === 'setUpstreamResponse') headers.set(op.name, op.value);
    else if (op.op === 'updateUpstreamResponse') replaceHeader(headers, op);
  }
}

/** The `access-control-allow-origin` for `origin`, and whether it depends on the request. */
function allowedOrigin(op: CorsOp, origin: string | null): { value?: string; varies: boolean } {
  if (Array.isArray(op.origin)) {
    return origin !== null && op.origin.includes(origin)
      ? { value: origin, varies: true }
      : { varies: true };
  }
  // A credentialed request may not be answered with `*`: echo its origin.
  if (op.origin === '*' && op.credentials) {
    return origin !== null ? { value: origin, varies: true } : { varies: true };
  }
  return { value: op.origin, varies: false };
}

/** The CORS headers of `allowCors()` for a request from `origin`. */
export function applyCors(headers: HeaderBag, op: CorsOp, origin: string | null): void {
  const allowed = allowedOrigin(op, origin);
  if (allowed.varies) headers.append('vary', 'origin');
  if (allowed.value === undefined) return;
  headers.set('access-control-allow-origin', allowed.value);
  if (op.credentials) headers.set('access-control-allow-credentials', 'true');
  if (op.exposeHeaders?.length) {
    headers.set('access-control-expose-headers', op.exposeHeaders.join(', '));
  }
}

/**
 * One response rule of the handler helpers (`updateResponseHeader`,
 * `addResponseCookie`, `allowCors`); `origin` is the request's.
 */
export function applyHelperResponseRule(
  headers: HeaderBag,
  op: HeaderOp,
  origin: string | null,
): void {
  if (op.op === 'updateResponse') replaceHeader(headers, op);
  else if (op.op === 'addResponseCookie') headers.append('set-cookie', `${op.name}=${op.value}`);
  else if (op.op === 'cors') applyCors(headers, op, origin);
}

/**
 * The response rules (`setResponseHeader`, `removeResponseHeader`,
 * `updateResponseHeader`, `addResponseCookie`, `allowCors`) on the final
 * response, in call order: `${req:name}` reads `original` (the request's
 * headers, lower-case names), CORS reads its `origin`.
 */
export function applyResponseRules(
  headers: HeaderBag,
  ops: readonly HeaderOp[],
  original: Record<string, string>,
): void {
  const origin = Object.hasOwn(original, 'origin') ? (original.origin as string) : null;
  for (const op of ops) {
    if (op.op === 'setResponse') headers.set(op.name, interpolateHeader(op.value, original));
    else if (op.op === 'removeResponse') headers.delete(op.name);
    else applyHelperResponseRule(headers, op, origin);
  }
}
