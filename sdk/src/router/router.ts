/**
 * The Router: EdgeJS-style routes that the build describes in the manifest
 * (so the shield routes and caches before any code runs) and that the bundle
 * serves with the same matcher.
 *
 * @module
 */
import {
  compilePattern,
  type HeaderOp,
  type HttpMethod,
  interpolatePath,
  ManifestError,
  type ManifestRoute,
  matchRoutes,
  type RouteCriteria,
  validateRouteCriteria,
} from '@flotilla/manifest';
import { BACKEND_NAME, describeValue } from '@flotilla/protocol/patterns';
import { RENDER_ROUTE, type RenderRoute, ROUTE_RENDER_FN } from '../hydration.ts';
import { BackendError, InvalidRouteError, RouterBuildError } from './errors.ts';
import type {
  BackendClient,
  MatchCriteria,
  PrerenderSource,
  RenderContext,
  RenderFn,
  RouteHandler,
} from './types.ts';
import { createWriter, type Recording } from './writer.ts';

/**
 * The symbol through which a Router describes its routes at build time:
 * `router[DESCRIBE_ROUTES]()` returns the manifest's `routes`.
 */
export const DESCRIBE_ROUTES: unique symbol = Symbol.for('flotilla.router.describe');

/**
 * The symbol through which a Router lists its prerender requests at build
 * time: `router[DESCRIBE_PRERENDER]()` resolves with what every
 * `prerender()` gave (functions called), unchecked.
 */
export const DESCRIBE_PRERENDER: unique symbol = Symbol.for('flotilla.router.prerender');

interface RouteEntry {
  criteria: RouteCriteria;
  handler: RouteHandler;
  fallback: boolean;
}

interface CompiledRoute {
  spec: ManifestRoute;
  label: string;
  recording: Recording;
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Routes requests, EdgeJS style. Routes are tried in order: routes that
 * only declare cache options or header changes add them up, the first route
 * with an action (`render`, `proxy`, `redirect`, `serveStatic`, `send`)
 * answers, and fallback routes answer only when no other route did.
 *
 * A handler runs once at build time (twice, with two synthetic requests,
 * to check it declares the same thing each time) and the build writes what
 * it declared into `manifest.json`. The shield uses that description to
 * route, cache, redirect, proxy and serve static files before any code
 * runs; the bundle's `fetch` runs render functions and proxies.
 *
 * @example
 * export default new Router()
 *   .get('/p/:productId', ({ cache, render }) => {
 *     cache({ edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 600 },
 *             key: new CustomCacheKey().excludeAllQueryParametersExcept('color') });
 *     render(productPage);
 *   })
 *   .match({ path: '/api/:path*', method: ['GET'] }, ({ proxy }) => proxy('api', { path: '/:path*' }))
 *   .get('/old', ({ redirect }) => redirect('/new', { statusCode: 301 }))
 *   .fallback(({ render }) => render(notFoundPage));
 */
export class Router {
  readonly #entries: RouteEntry[] = [];
  readonly #prerender: PrerenderSource[] = [];
  #compiled: CompiledRoute[] | undefined;
  #specs: ManifestRoute[] | undefined;

  /**
   * Answers a request: what `Flotilla.serve(router)` calls (the runtime
   * passes the environment's variables as `env`).
   *
   * @param request - The request.
   * @param env - Environment variables for `ctx.env`. @default {}
   * @throws RouterBuildError when a route cannot be described (the build
   * would have refused the app).
   */
  readonly fetch = (request: Request, env?: Record<string, string>): Promise<Response> =>
    this.#serve(request, env ?? {});

  /** Adds a route for `GET` (and `HEAD`) requests. */
  get(pathOrCriteria: string | Omit<RouteCriteria, 'method'>, handler: RouteHandler): this {
    return this.#method('GET', 'get', pathOrCriteria, handler);
  }

  /** Adds a route for `POST` requests. */
  post(pathOrCriteria: string | Omit<RouteCriteria, 'method'>, handler: RouteHandler): this {
    return this.#method('POST', 'post', pathOrCriteria, handler);
  }

  /** Adds a route for `PUT` requests. */
  put(pathOrCriteria: string | Omit<RouteCriteria, 'method'>, handler: RouteHandler): this {
    return this.#method('PUT', 'put', pathOrCriteria, handler);
  }

  /** Adds a route for `PATCH` requests. */
  patch(pathOrCriteria: string | Omit<RouteCriteria, 'method'>, handler: RouteHandler): this {
    return this.#method('PATCH', 'patch', pathOrCriteria, handler);
  }

  /** Adds a route for `DELETE` requests. */
  delete(pathOrCriteria: string | Omit<RouteCriteria, 'method'>, handler: RouteHandler): this {
    return this.#method('DELETE', 'delete', pathOrCriteria, handler);
  }

  /** Adds a route for `HEAD` requests. */
  head(pathOrCriteria: string | Omit<RouteCriteria, 'method'>, handler: RouteHandler): this {
    return this.#method('HEAD', 'head', pathOrCriteria, handler);
  }

  /** Adds a route for `OPTIONS` requests. */
  options(pathOrCriteria: string | Omit<RouteCriteria, 'method'>, handler: RouteHandler): this {
    return this.#method('OPTIONS', 'options', pathOrCriteria, handler);
  }

  /**
   * Adds a route matching a path (every method) or full criteria: path,
   * methods, hosts, query parameters, headers, cookies.
   *
   * @example
   * router.match({ path: '/api/:path*', method: ['GET', 'HEAD'], headers: { 'x-beta': true } }, h);
   * @throws InvalidRouteError when the criteria are invalid (the message names the field).
   */
  match(criteria: string | MatchCriteria, handler: RouteHandler): this {
    const raw =
      typeof criteria === 'string'
        ? { path: criteria }
        : typeof criteria === 'object' && criteria !== null && typeof criteria.method === 'string'
          ? { ...criteria, method: [criteria.method] }
          : criteria;
    return this.#add('match()', raw, handler, false);
  }

  /**
   * Adds a fallback route: it answers requests no other route with an
   * action matched (every path and method).
   */
  fallback(handler: RouteHandler): this {
    return this.#add('fallback()', { path: '/:path*' }, handler, true);
  }

  /**
   * Adds the routes of `router` here, in order, as if they were declared at
   * this point (routes added to `router` later are not included).
   */
  use(router: Router): this {
    if (!(router instanceof Router)) {
      throw new InvalidRouteError(`use(): needs a Router (got ${describeValue(router)})`);
    }
    if (router === this) throw new InvalidRouteError('use(): a router cannot use itself');
    this.#entries.push(...router.#entries);
    this.#prerender.push(...router.#prerender);
    this.#invalidate();
    return this;
  }

  /**
   * Paths the shields render and store when a deployment is promoted, so
   * the first visitor gets a hit (EdgeJS `prerender`): the requests, or a
   * function returning them (called by `flotilla build`, where `fetch` is
   * not available: list the paths, or put them in `prerenderRequests` of
   * `flotilla.config.json`). Only routes the shield caches are stored.
   *
   * @example router.prerender([{ path: '/' }, { path: '/p/1' }]);
   * @throws InvalidRouteError when given neither an array nor a function
   */
  prerender(requests: PrerenderSource): this {
    if (!Array.isArray(requests) && typeof requests !== 'function') {
      throw new InvalidRouteError(
        `prerender(): needs an array of { path } or a function returning one (got ${describeValue(requests)})`,
      );
    }
    this.#prerender.push(requests);
    return this;
  }

  /** What every `prerender()` gave, functions called (checked by the build). */
  async [DESCRIBE_PRERENDER](): Promise<unknown[]> {
    const all: unknown[] = [];
    for (const source of this.#prerender) {
      const listed: unknown = typeof source === 'function' ? await source() : source;
      if (!Array.isArray(listed)) {
        throw new InvalidRouteError(
          `prerender(): the function must return an array of { path } (got ${describeValue(listed)})`,
        );
      }
      all.push(...listed);
    }
    return all;
  }

  /**
   * The manifest's `routes`: each handler run twice at build time with two
   * different synthetic requests.
   *
   * @throws RouterBuildError naming the route (`GET /p/:productId (route 3)`)
   * when a handler throws, returns a Promise, or declares different cache
   * options, actions or header changes in the two runs.
   */
  [DESCRIBE_ROUTES](): ManifestRoute[] {
    return this.#compile().map((r) => structuredClone(r.spec));
  }

  /**
   * The render function route `id` declared (`render(page)`), or undefined:
   * how the browser finds the page a server render hydrates.
   */
  [ROUTE_RENDER_FN](id: number): RenderFn | undefined {
    return this.#compile()[id]?.recording.render;
  }

  #method(
    method: HttpMethod,
    call: string,
    pathOrCriteria: string | Omit<RouteCriteria, 'method'>,
    handler: RouteHandler,
  ): this {
    if (
      typeof pathOrCriteria === 'object' &&
      pathOrCriteria !== null &&
      'method' in pathOrCriteria
    ) {
      throw new InvalidRouteError(
        `${call}(): the criteria must not have "method" (${call}() matches ${method}); use match() to list methods`,
      );
    }
    const criteria = typeof pathOrCriteria === 'string' ? { path: pathOrCriteria } : pathOrCriteria;
    return this.#add(`${call}()`, { ...criteria, method: [method] }, handler, false);
  }

  #add(call: string, criteria: unknown, handler: RouteHandler, fallback: boolean): this {
    let valid: RouteCriteria;
    try {
      valid = validateRouteCriteria(criteria, 'criteria');
    } catch (err) {
      if (err instanceof ManifestError) {
        throw new InvalidRouteError(`${call}: ${err.message}`, { cause: err });
      }
      throw err;
    }
    if (typeof handler !== 'function') {
      throw new InvalidRouteError(
        `${call}: needs a handler function ({ cache, render, … }) => void (got ${describeValue(handler)})`,
      );
    }
    this.#entries.push({ criteria: valid, handler, fallback });
    this.#invalidate();
    return this;
  }

  #invalidate(): void {
    this.#compiled = undefined;
    this.#specs = undefined;
  }

  #compile(): CompiledRoute[] {
    if (!this.#compiled) {
      const compiled = this.#entries.map((entry, id) => describeEntry(entry, id));
      this.#compiled = compiled;
      this.#specs = compiled.map((c) => c.spec);
    }
    return this.#compiled;
  }

  async #serve(request: Request, env: Record<string, string>): Promise<Response> {
    const routes = this.#compile();
    const url = new URL(request.url);
    const original: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      original[name] = value;
    });
    const decision = matchRoutes(this.#specs ?? [], {
      method: request.method,
      host: url.hostname,
      path: url.pathname,
      query: url.search.slice(1),
      headers: original,
    });
    const ops = decision.headerOps;
    const req = applyRequestOps(request, ops, original);
    const route = decision.terminal ? routes[decision.terminal.id] : undefined;
    const response = route
      ? await answer(route, req, url, decision.params, env, ops)
      : notFoundResponse('Not found\n');
    return applyResponseOps(response, ops, original);
  }
}

/** `GET /p/:id (route 3)`, `ANY /x (route 4)`, `fallback (route 7)`. */
function labelOf(entry: RouteEntry, id: number): string {
  if (entry.fallback) return `fallback (route ${id})`;
  const methods = entry.criteria.method ? entry.criteria.method.join(',') : 'ANY';
  return `${methods} ${entry.criteria.path} (route ${id})`;
}

function describeEntry(entry: RouteEntry, id: number): CompiledRoute {
  const label = labelOf(entry, id);
  const pattern = compilePattern(entry.criteria.path);
  const runs = (['a', 'b'] as const).map((variant) => {
    const { request, params } = syntheticRequest(entry.criteria, pattern, variant);
    const run = createWriter(pattern.params, request, params);
    let result: unknown;
    try {
      result = entry.handler(run.writer);
    } catch (err) {
      throw new RouterBuildError(
        label,
        id,
        err instanceof InvalidRouteError ? err.message : `the handler threw: ${messageOf(err)}`,
        { cause: err },
      );
    } finally {
      run.seal();
    }
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      // Its later calls throw (sealed); keep that rejection from going unhandled.
      (result as Promise<unknown>).then(undefined, () => {});
      throw new RouterBuildError(
        label,
        id,
        'the handler returned a Promise: handlers declare synchronously (cache(), render(), proxy(), …); ' +
          'put async work in the function given to render()',
      );
    }
    return run.recording;
  });
  const [a, b] = runs as [Recording, Recording];
  const parts: Array<[string, (r: Recording) => unknown]> = [
    ['the action must be static', (r) => r.action],
    ['cache options must be static', (r) => r.cache ?? null],
    ['header changes must be static', (r) => r.headerOps],
    ['the body, status and headers of send() must be static', (r) => r.send ?? null],
    [
      'transformResponse must be given in every run or none',
      (r) => r.transformResponse !== undefined,
    ],
  ];
  for (const [problem, get] of parts) {
    const x = JSON.stringify(get(a));
    const y = JSON.stringify(get(b));
    if (x !== y) {
      throw new RouterBuildError(
        label,
        id,
        `${problem}, but the two build-time runs of the handler (with different synthetic requests) declared ${x} and ${y}`,
      );
    }
  }
  const spec: ManifestRoute = {
    id,
    criteria: structuredClone(entry.criteria),
    fallback: entry.fallback,
    action: a.action,
    ...(a.cache ? { cache: a.cache } : {}),
    headerOps: a.headerOps,
  };
  return { spec, label, recording: a };
}

/** A request that meets the criteria, different for the two variants. */
function syntheticRequest(
  criteria: RouteCriteria,
  pattern: ReturnType<typeof compilePattern>,
  variant: 'a' | 'b',
): { request: Request; params: Record<string, string> } {
  const params: Record<string, string> = {};
  for (const p of pattern.params) params[p.name] = `flotilla-synthetic-${variant}`;
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(criteria.query ?? {})) {
    query.append(name, value === true ? variant : value);
  }
  query.append('flotilla-synthetic', variant);
  const headers = new Headers({
    'x-flotilla-synthetic': variant,
    'user-agent': variant === 'a' ? 'Flotilla-Build/a (desktop)' : 'Flotilla-Build/b (mobile)',
    'accept-language': variant === 'a' ? 'en' : 'fr',
  });
  for (const [name, value] of Object.entries(criteria.headers ?? {})) {
    headers.set(name, value === true ? variant : value);
  }
  const cookies = [`flotilla-synthetic=${variant}`];
  for (const [name, value] of Object.entries(criteria.cookies ?? {})) {
    cookies.push(`${name}=${value === true ? variant : value}`);
  }
  headers.set('cookie', cookies.join('; '));
  const host =
    criteria.host?.[variant === 'a' ? 0 : criteria.host.length - 1] ??
    `synthetic-${variant}.flotilla.invalid`;
  const methods = criteria.method ?? (['GET', 'POST'] as const);
  const method = (variant === 'a' ? methods[0] : methods[methods.length - 1]) ?? 'GET';
  const request = new Request(`https://${host}${pattern.toPath(params)}?${query}`, {
    method,
    headers,
  });
  return { request, params };
}

function interpolateHeader(value: string, original: Record<string, string>): string {
  return value.replace(/\$\{req:([^}]+)\}/g, (_all, name: string) => {
    const key = name.trim().toLowerCase();
    return Object.hasOwn(original, key) ? (original[key] as string) : '';
  });
}

function applyRequestOps(
  request: Request,
  ops: readonly HeaderOp[],
  original: Record<string, string>,
): Request {
  if (!ops.some((op) => op.op === 'setRequest' || op.op === 'removeRequest')) return request;
  const headers = new Headers(request.headers);
  for (const op of ops) {
    if (op.op === 'setRequest') headers.set(op.name, interpolateHeader(op.value, original));
    else if (op.op === 'removeRequest') headers.delete(op.name);
  }
  return new Request(request, { headers });
}

function withHeaders(response: Response, edit: (headers: Headers) => void): Response {
  const headers = new Headers(response.headers);
  edit(headers);
  return new Response(NULL_BODY.has(response.status) ? null : response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

function applyResponseOps(
  response: Response,
  ops: readonly HeaderOp[],
  original: Record<string, string>,
): Response {
  if (!ops.some((op) => op.op === 'setResponse' || op.op === 'removeResponse')) return response;
  return withHeaders(response, (headers) => {
    for (const op of ops) {
      if (op.op === 'setResponse') headers.set(op.name, interpolateHeader(op.value, original));
      else if (op.op === 'removeResponse') headers.delete(op.name);
    }
  });
}

function notFoundResponse(body: string): Response {
  return new Response(body, {
    status: 404,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}

/** The `ctx.backend(name)` of a render. */
export function backendClient(name: string): BackendClient {
  if (typeof name !== 'string' || !BACKEND_NAME.test(name)) {
    throw new TypeError(`backend(${JSON.stringify(name)}): not a backend name`);
  }
  const client: BackendClient = {
    fetch(path: string, init?: RequestInit) {
      if (typeof path !== 'string' || !path.startsWith('/')) {
        return Promise.reject(
          new TypeError(
            `backend(${JSON.stringify(name)}).fetch(): the path must start with "/" (got ${JSON.stringify(path)})`,
          ),
        );
      }
      return fetch(`backend://${name}${path}`, init);
    },
    async json<T>(path: string): Promise<T> {
      const res = await client.fetch(path, { headers: { accept: 'application/json' } });
      if (!res.ok) throw new BackendError(name, path, res.status);
      return (await res.json()) as T;
    },
  };
  return client;
}

/**
 * Builds the context a render function gets.
 *
 * @param route - The route it renders for (see {@link RENDER_ROUTE}); absent outside a Router.
 */
export function renderContext(
  request: Request,
  params: Record<string, string>,
  env: Record<string, string>,
  route?: RenderRoute,
): RenderContext {
  const ctx: RenderContext = { request, params, env, backend: backendClient };
  if (route) Object.assign(ctx, { [RENDER_ROUTE]: route });
  return ctx;
}

function isResponse(value: unknown): value is Response {
  return (
    value instanceof Response ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as Response).status === 'number' &&
      typeof (value as Response).headers?.get === 'function' &&
      typeof (value as Response).arrayBuffer === 'function')
  );
}

async function answer(
  route: CompiledRoute,
  req: Request,
  url: URL,
  params: Record<string, string>,
  env: Record<string, string>,
  ops: readonly HeaderOp[],
): Promise<Response> {
  const { spec, recording, label } = route;
  const action = spec.action;
  switch (action.kind) {
    case 'render': {
      if (recording.send) {
        return new Response(recording.send.body, {
          status: recording.send.status,
          headers: recording.send.headers,
        });
      }
      const render = recording.render;
      if (!render) return notFoundResponse('Not found\n');
      const response = await render(renderContext(req, params, env, { id: spec.id, render }));
      if (!isResponse(response)) {
        throw new TypeError(
          `the render function of ${label} returned ${describeValue(response, { typed: true })}, not a Response`,
        );
      }
      return response;
    }
    case 'proxy': {
      const path = action.path === undefined ? url.pathname : interpolatePath(action.path, params);
      const init: RequestInit = {
        method: req.method,
        headers: req.headers,
        redirect: 'manual',
      };
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.body !== null) {
        init.body = await req.arrayBuffer();
      }
      let response = await fetch(`backend://${action.backend}${path}${url.search}`, init);
      const upstream = ops.filter((op) => op.op === 'removeUpstreamResponse');
      if (upstream.length > 0) {
        response = withHeaders(response, (headers) => {
          for (const op of upstream) headers.delete(op.name);
        });
      }
      if (recording.transformResponse) {
        const transformed = await recording.transformResponse(response, req);
        if (!isResponse(transformed)) {
          throw new TypeError(
            `the transformResponse of ${label} returned ${describeValue(transformed, { typed: true })}, not a Response`,
          );
        }
        response = transformed;
      }
      return response;
    }
    case 'redirect':
      return new Response(null, {
        status: action.statusCode,
        headers: { location: interpolatePath(action.to, params) },
      });
    case 'static':
      return notFoundResponse('Not found (static files are served by the shield)\n');
    default:
      return notFoundResponse('Not found\n');
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
