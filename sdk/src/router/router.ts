/**
 * The Router: EdgeJS-style routes that the build describes in the manifest
 * (so the shield routes and caches before any code runs) and that the bundle
 * serves with the same matcher. The routes are described by
 * `describe-route.ts` and served by `serve.ts`.
 *
 * @module
 */
import {
  type HttpMethod,
  ManifestError,
  type ManifestRoute,
  type RouteCriteria,
  validateRouteCriteria,
} from '@flotilla/manifest';
import { DESTINATION_NAME, describeValue } from '@flotilla/protocol/patterns';
import { ROUTE_RENDER_FN } from '../hydration.ts';
import { criteriaWithRegexSpecs, refuseRegExpPath } from './criteria.ts';
import { type CompiledRoute, describeEntry, type RouteEntry } from './describe-route.ts';
import { InvalidRouteError } from './errors.ts';
import { serveRequest } from './serve.ts';
import { CATCH_CRITERIA, catchPatternFor, STATIC_CRITERIA, staticDirOf } from './static-catch.ts';
import type {
  MatchCriteria,
  PrerenderSource,
  RenderFn,
  RouteCriteriaInput,
  RouteHandler,
} from './types.ts';

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

  #serve(request: Request, env: Record<string, string>): Promise<Response> {
    return serveRequest(this.#compile(), this.#specs ?? [], request, env);
  }
}
