/**
 * The Router: EdgeJS-style routes that the build describes in the manifest
 * (so the shield routes and caches before any code runs) and that the bundle
 * serves with the same matcher.
 *
 * @module
 */
import {
  applyRequestRules,
  applyResponseRules,
  catchRouteFor,
  compilePattern,
  DESTINATION_HEADER,
  type HeaderOp,
  type HttpMethod,
  hasOps,
  interpolatePath,
  ManifestError,
  type ManifestRoute,
  matchRoutes,
  REQUEST_OPS,
  RESPONSE_OPS,
  type RouteCriteria,
  routesForDestination,
  validateRouteCriteria,
} from '@flotilla/manifest';
import { BACKEND_NAME, DESTINATION_NAME, describeValue } from '@flotilla/protocol/patterns';
import { RENDER_ROUTE, type RenderRoute, ROUTE_RENDER_FN } from '../hydration.ts';
import { criteriaWithRegexSpecs, refuseRegExpPath } from './criteria.ts';
import { BackendError, InvalidRouteError, RouterBuildError } from './errors.ts';
import {
  applyUpstreamRules,
  corsPreflight,
  isResponse,
  runCompute,
  withStatus,
} from './header-rules.ts';
import { proxyAnswer } from './proxy.ts';
import {
  CATCH_CRITERIA,
  catchPatternFor,
  describeStatic,
  STATIC_CRITERIA,
  staticDirOf,
} from './static-catch.ts';
import type {
  BackendClient,
  MatchCriteria,
  PrerenderSource,
  RenderContext,
  RenderFn,
  RouteCriteriaInput,
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
  /** `catch()`: the status pattern it answers. */
  catchPattern?: string;
  /** `static()`: the directory whose files it serves. */
  staticDir?: string;
  /** The destination router it came from (`destination(name, router)`). */
  destination?: string;
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
  get(pathOrCriteria: string | RouteCriteriaInput, handler: RouteHandler): this {
    return this.#method('GET', 'get', pathOrCriteria, handler);
  }

  /** Adds a route for `POST` requests. */
  post(pathOrCriteria: string | RouteCriteriaInput, handler: RouteHandler): this {
    return this.#method('POST', 'post', pathOrCriteria, handler);
  }

  /** Adds a route for `PUT` requests. */
  put(pathOrCriteria: string | RouteCriteriaInput, handler: RouteHandler): this {
    return this.#method('PUT', 'put', pathOrCriteria, handler);
  }

  /** Adds a route for `PATCH` requests. */
  patch(pathOrCriteria: string | RouteCriteriaInput, handler: RouteHandler): this {
    return this.#method('PATCH', 'patch', pathOrCriteria, handler);
  }

  /** Adds a route for `DELETE` requests. */
  delete(pathOrCriteria: string | RouteCriteriaInput, handler: RouteHandler): this {
    return this.#method('DELETE', 'delete', pathOrCriteria, handler);
  }

  /** Adds a route for `HEAD` requests. */
  head(pathOrCriteria: string | RouteCriteriaInput, handler: RouteHandler): this {
    return this.#method('HEAD', 'head', pathOrCriteria, handler);
  }

  /** Adds a route for `OPTIONS` requests. */
  options(pathOrCriteria: string | RouteCriteriaInput, handler: RouteHandler): this {
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
    refuseRegExpPath('match()', criteria);
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
   * Serves the build's static files at the root, as EdgeJS's
   * `router.static('public')`: `dir` must be the app's static directory
   * (`"static"` in `flotilla.config.json`), whose files the shield serves
   * at their paths (`public/logo.png` at `/logo.png`) before any route.
   * Other requests go on to the next route. `flotilla build` fails naming
   * the route when `dir` is another directory.
   */
  static(dir: string, options?: unknown): this {
    const staticDir = staticDirOf(dir, options);
    this.#add(`static(${JSON.stringify(dir)})`, STATIC_CRITERIA, () => {}, false);
    (this.#entries.at(-1) as RouteEntry).staticDir = staticDir;
    return this;
  }

  /**
   * A custom error page, as EdgeJS's `router.catch(404, handler)` or
   * `router.catch(/5\d{2}/, handler)`: when a response has a matching
   * status (400-599), the handler's response is sent instead, with that
   * status. A `serveStatic(file)` handler is applied by the shield, also to
   * its own errors (a failed render's 502, a timeout's 504); a handler that
   * runs code (`render`, `send`, `compute`) to the statuses a render or a
   * backend answers with.
   *
   * @throws InvalidRouteError when `status` is neither an integer nor a RegExp, or could match a status below 400.
   */
  catch(status: number | RegExp, handler: RouteHandler): this {
    const pattern = catchPatternFor(status);
    this.#add(`catch(${String(status)})`, CATCH_CRITERIA, handler, false);
    (this.#entries.at(-1) as RouteEntry).catchPattern = pattern;
    return this;
  }

  /**
   * Adds the routes of `router` as destination `name` (EdgeJS split
   * testing): one deployment holds several routers, and the environment's
   * split test (`flotilla split set … <deployment>:<name>=<percent>`, or a
   * rule) picks one per visitor, sticky by cookie, cached apart. Routes
   * outside any destination serve every destination; a visitor the split
   * sends nowhere in particular gets the first destination declared.
   *
   * @example
   * new Router()
   *   .destination('legacy_experience', new Router().fallback(({ proxy }) => proxy('legacy')))
   *   .destination('new_experience', newRoutes);
   * @throws InvalidRouteError for a bad name, a name used twice, or a router that has destinations itself.
   */
  destination(name: string, router: Router): this {
    const call = `destination(${JSON.stringify(name)})`;
    if (typeof name !== 'string' || !DESTINATION_NAME.test(name)) {
      throw new InvalidRouteError(`${call}: the name must be 1-64 letters, digits, "_" or "-"`);
    }
    if (!(router instanceof Router)) {
      throw new InvalidRouteError(`${call}: needs a Router (got ${describeValue(router)})`);
    }
    if (router === this || router.#entries.some((e) => e.destination !== undefined)) {
      throw new InvalidRouteError(`${call}: a destination's router cannot have destinations`);
    }
    if (this.#entries.some((e) => e.destination === name)) {
      throw new InvalidRouteError(`${call}: destination "${name}" is declared twice`);
    }
    this.#entries.push(...router.#entries.map((e) => ({ ...e, destination: name })));
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
    pathOrCriteria: string | RouteCriteriaInput,
    handler: RouteHandler,
  ): this {
    refuseRegExpPath(`${call}()`, pathOrCriteria);
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
      valid = validateRouteCriteria(criteriaWithRegexSpecs(criteria), 'criteria');
    } catch (err) {
      if (err instanceof ManifestError) {
        const path = (criteria as { path?: unknown } | null)?.path;
        // A path problem quotes the path already.
        const where = typeof path === 'string' && err.field !== 'criteria.path' ? ` ${path}` : '';
        throw new InvalidRouteError(`${call}${where}: ${err.message}`, { cause: err });
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
    // The shield names the split test's destination (clients cannot: it drops their x-flotilla-*).
    const specs = routesForDestination(
      this.#specs ?? [],
      request.headers.get(DESTINATION_HEADER) ?? undefined,
    );
    const match = {
      host: url.hostname,
      path: url.pathname,
      query: url.search.slice(1),
      headers: original,
    };
    const preflight = corsPreflight(specs, request, match);
    if (preflight) return preflight;
    const decision = matchRoutes(specs, { ...match, method: request.method });
    const ops = decision.headerOps;
    const req = applyRequestOps(request, ops, original);
    const route = decision.terminal ? routes[decision.terminal.id] : undefined;
    let response = route
      ? await answer(route, req, url, decision.params, env, ops)
      : notFoundResponse('Not found\n');
    // A catch handler that runs code answers an error status here; a
    // serveStatic(file) one is the shield's (it has the files).
    const caught = catchRouteFor(specs, response.status);
    const catcher = caught && caught.action.kind !== 'asset' ? routes[caught.id] : undefined;
    if (catcher) {
      const status = response.status;
      await response.body?.cancel();
      const page = await answer(catcher, req, url, {}, env, catcher.spec.headerOps);
      response = page.status >= 300 && page.status < 400 ? page : withStatus(page, status);
    }
    return applyResponseOps(response, ops, original);
  }
}

/** `GET /p/:id (route 3)`, `ANY /x (route 4)`, `fallback (route 7)`. */
function labelOf(entry: RouteEntry, id: number): string {
  if (entry.destination !== undefined) {
    const { destination, ...rest } = entry;
    return `${labelOf(rest, id)} of destination ${destination}`;
  }
  if (entry.fallback) return `fallback (route ${id})`;
  if (entry.catchPattern !== undefined) return `catch /${entry.catchPattern}/ (route ${id})`;
  if (entry.staticDir !== undefined) return `static ${entry.staticDir} (route ${id})`;
  const methods = entry.criteria.method ? entry.criteria.method.join(',') : 'ANY';
  return `${methods} ${entry.criteria.path} (route ${id})`;
}

function describeEntry(entry: RouteEntry, id: number): CompiledRoute {
  const label = labelOf(entry, id);
  if (entry.staticDir !== undefined) {
    return {
      spec: describeStatic(id, entry.staticDir),
      label,
      recording: createWriter([], new Request('https://static.invalid/'), {}).recording,
    };
  }
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
    ['passRequestFacts() must be static', (r) => r.requestFacts ?? null],
    ['the body, status and headers of send() must be static', (r) => r.send ?? null],
    [
      'transformResponse must be given in every run or none',
      (r) => r.transformResponse !== undefined,
    ],
    [
      'transformRequest and a path function must be given in every run or none',
      (r) => [r.transformRequest !== undefined, r.proxyPath !== undefined],
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
    ...(entry.catchPattern !== undefined ? { catch: { pattern: entry.catchPattern } } : {}),
    ...(entry.destination !== undefined ? { destination: entry.destination } : {}),
    ...(a.requestFacts ? { requestFacts: a.requestFacts } : {}),
  };
  if (entry.catchPattern !== undefined && a.action.kind === 'headers') {
    throw new RouterBuildError(
      label,
      id,
      'a catch handler must answer: serveStatic(file, { statusCode }), send(), render() or compute()',
    );
  }
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
    query.append(name, typeof value === 'string' ? value : variant);
  }
  query.append('flotilla-synthetic', variant);
  const headers = new Headers({
    'x-flotilla-synthetic': variant,
    'user-agent': variant === 'a' ? 'Flotilla-Build/a (desktop)' : 'Flotilla-Build/b (mobile)',
    'accept-language': variant === 'a' ? 'en' : 'fr',
  });
  for (const [name, value] of Object.entries(criteria.headers ?? {})) {
    headers.set(name, typeof value === 'string' ? value : variant);
  }
  const cookies = [`flotilla-synthetic=${variant}`];
  for (const [name, value] of Object.entries(criteria.cookies ?? {})) {
    cookies.push(`${name}=${typeof value === 'string' ? value : variant}`);
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

function applyRequestOps(
  request: Request,
  ops: readonly HeaderOp[],
  original: Record<string, string>,
): Request {
  if (!hasOps(ops, REQUEST_OPS)) return request;
  const headers = new Headers(request.headers);
  applyRequestRules(headers, ops, original);
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
  if (!hasOps(ops, RESPONSE_OPS)) return response;
  return withHeaders(response, (headers) => applyResponseRules(headers, ops, original));
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
      if (recording.compute) {
        return applyUpstreamRules(await runCompute(recording.compute, req, params), ops);
      }
      const render = recording.render;
      if (!render) return notFoundResponse('Not found\n');
      const response = await render(renderContext(req, params, env, { id: spec.id, render }));
      if (!isResponse(response)) {
        throw new TypeError(
          `the render function of ${label} returned ${describeValue(response, { typed: true })}, not a Response`,
        );
      }
      return applyUpstreamRules(response, ops);
    }
    case 'proxy':
      return proxyAnswer(action, recording, label, req, url, params, ops);
    case 'redirect':
      return new Response(null, {
        status: action.statusCode,
        headers: { location: interpolatePath(action.to, params) },
      });
    case 'static':
    case 'asset':
      return notFoundResponse('Not found (static files are served by the shield)\n');
    default:
      return notFoundResponse('Not found\n');
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
