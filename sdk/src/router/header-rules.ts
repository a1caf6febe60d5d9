/**
 * The handler helpers' rules at request time, in the bundle: upstream
 * header rules on the answer of a render or backend, the response rules of
 * `updateResponseHeader`, `addResponseCookie` and `allowCors`, CORS
 * preflights, and `compute()`'s request and response.
 *
 * @module
 */
import { type HeaderOp, type ManifestRoute, matchRoutes, type RegexSpec } from '@flotilla/manifest';
import type { ComputeFn, ComputeRequest, ComputeResponse } from './types.ts';

type CorsOp = Extract<HeaderOp, { op: 'cors' }>;

/** The header ops applied to the final response. */
export const RESPONSE_OPS: ReadonlySet<HeaderOp['op']> = new Set([
  'setResponse',
  'removeResponse',
  'updateResponse',
  'addResponseCookie',
  'cors',
]);

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

/** Replaces what a header rule's regex matches in header `op.name`, when present. */
export function replaceHeader(
  headers: Headers,
  op: RegexSpec & { name: string; replacement: string },
) {
  const value = headers.get(op.name);
  if (value === null) return;
  headers.set(op.name, value.replace(new RegExp(op.regex, op.flags), op.replacement));
}

/**
 * The upstream rules (`removeUpstreamResponseHeader`,
 * `setUpstreamResponseHeader`, `updateUpstreamResponseHeader`) on the
 * answer of the route's render or backend, in call order.
 */
export function applyUpstreamRules(response: Response, ops: readonly HeaderOp[]): Response {
  const upstream = ops.filter(
    (op) =>
      op.op === 'removeUpstreamResponse' ||
      op.op === 'setUpstreamResponse' ||
      op.op === 'updateUpstreamResponse',
  );
  if (upstream.length === 0) return response;
  return editHeaders(response, (headers) => {
    for (const op of upstream) {
      if (op.op === 'removeUpstreamResponse') headers.delete(op.name);
      else if (op.op === 'setUpstreamResponse') headers.set(op.name, op.value);
      else if (op.op === 'updateUpstreamResponse') replaceHeader(headers, op);
    }
  });
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

function corsHeaders(headers: Headers, op: CorsOp, origin: string | null): void {
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
 * The response rules of the handler helpers (`updateResponseHeader`,
 * `addResponseCookie`, `allowCors`), in call order; `setResponseHeader`
 * and `removeResponseHeader` are applied by the router with them.
 */
export function applyHelperResponseRules(headers: Headers, op: HeaderOp, request: Request): void {
  if (op.op === 'updateResponse') replaceHeader(headers, op);
  else if (op.op === 'addResponseCookie') headers.append('set-cookie', `${op.name}=${op.value}`);
  else if (op.op === 'cors') corsHeaders(headers, op, request.headers.get('origin'));
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
  corsHeaders(headers, op, request.headers.get('origin'));
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
