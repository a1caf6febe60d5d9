/**
 * The handler helpers' rules at request time, in the bundle: upstream
 * header rules on the answer of a render or backend (the rules themselves
 * are `@flotilla/manifest`'s, shared with the shield), CORS preflights, and
 * `compute()`'s request and response.
 *
 * @module
 */
import {
  applyCors,
  applyUpstreamRules as applyUpstreamHeaderRules,
  type HeaderOp,
  hasOps,
  type ManifestRoute,
  matchRoutes,
  UPSTREAM_OPS,
} from '@flotilla/manifest';
import type { ComputeFn, ComputeRequest, ComputeResponse } from './types.ts';

type CorsOp = Extract<HeaderOp, { op: 'cors' }>;

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** A Response of any realm (a render's own, or one it got from `fetch`). */
export function isResponse(value: unknown): value is Response {
  return (
    value instanceof Response ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as Response).status === 'number' &&
      typeof (value as Response).headers?.get === 'function' &&
      typeof (value as Response).arrayBuffer === 'function')
  );
}

/** `response` with its headers changed by `edit` (a copy: fetched headers are immutable). */
export function editHeaders(response: Response, edit: (headers: Headers) => void): Response {
  const headers = new Headers(response.headers);
  edit(headers);
  return new Response(NULL_BODY.has(response.status) ? null : response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

/** `response` with another status, body and headers kept. */
export function withStatus(response: Response, status: number): Response {
  if (response.status === status) return response;
  return new Response(NULL_BODY.has(status) ? null : response.body, {
    status,
    headers: response.headers,
  });
}

/**
 * The upstream rules (`removeUpstreamResponseHeader`,
 * `setUpstreamResponseHeader`, `updateUpstreamResponseHeader`) on the
 * answer of the route's render or backend, in call order (the manifest's
 * {@link applyUpstreamHeaderRules}, which the shield applies too).
 */
export function applyUpstreamRules(response: Response, ops: readonly HeaderOp[]): Response {
  if (!hasOps(ops, UPSTREAM_OPS)) return response;
  return editHeaders(response, (headers) => applyUpstreamHeaderRules(headers, ops));
}

/**
 * A CORS preflight for a route with `allowCors()`: an `OPTIONS` with
 * `origin` and `access-control-request-method`, matched as the method it
 * announces, when no route declares `OPTIONS` itself. `204` with the
 * allowed methods, headers and max age; undefined when it is none.
 */
export function corsPreflight(
  routes: readonly ManifestRoute[],
  request: Request,
  match: Omit<Parameters<typeof matchRoutes>[1], 'method'>,
): Response | undefined {
  const wanted = request.headers.get('access-control-request-method');
  if (request.method !== 'OPTIONS' || wanted === null || !request.headers.has('origin')) {
    return undefined;
  }
  const own = matchRoutes(routes, { ...match, method: 'OPTIONS' }).terminal;
  if (own?.criteria.method?.includes('OPTIONS')) return undefined;
  const decision = matchRoutes(routes, { ...match, method: wanted.toUpperCase() });
  const op = decision.headerOps.filter((o): o is CorsOp => o.op === 'cors').at(-1);
  if (!op) return undefined;
  const headers = new Headers();
  applyCors(headers, op, request.headers.get('origin'));
  const methods = op.methods ?? decision.terminal?.criteria.method ?? ['GET', 'HEAD', 'POST'];
  headers.set('access-control-allow-methods', methods.join(', '));
  const asked = request.headers.get('access-control-request-headers');
  const allowHeaders = op.headers?.join(', ') ?? asked;
  if (allowHeaders) headers.set('access-control-allow-headers', allowHeaders);
  if (op.maxAge !== undefined) headers.set('access-control-max-age', String(op.maxAge));
  return new Response(null, { status: 204, headers });
}

/** Runs a `compute()` function and turns what it filled in into a Response. */
export async function runCompute(
  fn: ComputeFn,
  request: Request,
  params: Record<string, string>,
): Promise<Response> {
  const url = new URL(request.url);
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) if (!(name in query)) query[name] = value;
  const extras = {
    params,
    path: url.pathname,
    query,
    getHeader: (name: string) => request.headers.get(name) ?? undefined,
  };
  const req = new Proxy(request, {
    get(target, prop) {
      if (Object.hasOwn(extras, prop)) return extras[prop as keyof typeof extras];
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as ComputeRequest;
  const headers = new Headers();
  const res: ComputeResponse = {
    statusCode: 200,
    statusMessage: '',
    body: undefined,
    setHeader: (name, value) => headers.set(name, value),
    getHeader: (name) => headers.get(name) ?? undefined,
    removeHeader: (name) => headers.delete(name),
  };
  await fn(req, res);
  const status = res.statusCode;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new TypeError(
      `compute(): response.statusCode must be an integer from 200 to 599 (got ${String(status)})`,
    );
  }
  return new Response(NULL_BODY.has(status) ? null : ((res.body ?? null) as BodyInit | null), {
    status,
    statusText: res.statusMessage,
    headers,
  });
}
