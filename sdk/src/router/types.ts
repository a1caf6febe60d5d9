/**
 * Types of the Router: handlers, the response writer, render functions.
 *
 * @module
 */
import type {
  BrowserCacheOptions,
  CacheKeySpec,
  EdgeCacheOptions,
  HttpMethod,
  RegexSpec,
  RouteCriteria,
} from '@flotilla/manifest';
import type { CustomCacheKey } from '../cache-key.ts';

/** A declared backend, as a render reaches it. */
export interface BackendClient {
  /**
   * Fetches `backend://<name><path>`: the origin the deployment declares for
   * this backend (an environment may re-point it), plus `path`.
   *
   * @param path - Path and query, starting with `/`, e.g. `/products?page=2`.
   * @param init - As for `fetch`.
   */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /**
   * Fetches `path` (with `accept: application/json`) and parses the body.
   *
   * @throws BackendError when the status is not 2xx (its `status` says which).
   */
  json<T = unknown>(path: string): Promise<T>;
}

/** What a {@link RenderFn} gets. */
export interface RenderContext {
  /** The request (with the route's request-header changes applied). */
  request: Request;
  /** Path parameters of the matched route, percent-decoded. */
  params: Record<string, string>;
  /** Environment variables of the deployment's environment (`{}` when none). */
  env: Record<string, string>;
  /** A declared backend by name. */
  backend(name: string): BackendClient;
}

/** Renders a response at request time (what `render()` registers; adapters make them). */
export type RenderFn = (ctx: RenderContext) => Response | Promise<Response>;

/**
 * Cache options, as `cache()` takes them. Every number is a whole number of
 * seconds (`0` or more).
 */
export interface CacheOptions {
  /** Edge (shield) caching; `false`: never cache at the edge. */
  edge?: EdgeCacheOptions | false;
  /**
   * Browser caching (the client-facing `cache-control`); `false`: none
   * (`cache-control: private, no-store`).
   */
  browser?: BrowserCacheOptions | false;
  /** The cache key: a {@link CustomCacheKey} (or its spec). Absent: host, path and whole query. */
  key?: CustomCacheKey | CacheKeySpec;
}

/** Options of `proxy()`. */
export interface ProxyOptions {
  /**
   * Path at the backend: a template with the route's parameters substituted
   * (`/:path*`), or a function of the parameters and the request returning
   * the path (it may carry its own query). A template gets the request's
   * query string appended. Absent: the request's own path and query.
   */
  path?: string | ((params: Record<string, string>, request: Request) => string);
  /**
   * Changes the request before it goes to the backend: change
   * `request.headers` in place, or return a new Request (its method, headers
   * and body are sent; the URL stays the backend's).
   */
  transformRequest?: (request: Request) => Request | undefined | Promise<Request | undefined>;
  /**
   * Changes the backend's response before it is sent (runs in the bundle;
   * the shield then sends such requests to the bundle).
   */
  transformResponse?: (response: Response, request: Request) => Response | Promise<Response>;
}

/** Options of `allowCors()` (EdgeJS's `CorsOptions`). */
export interface CorsOptions {
  /**
   * `access-control-allow-origin`: `*`, one origin, or a list of origins
   * (the request's `origin` is echoed when listed, with `vary: origin`).
   * @default '*'
   */
  origin?: string | string[];
  /** `access-control-allow-methods` of a preflight. @default the route's methods, else GET, HEAD, POST */
  methods?: string[];
  /** `access-control-allow-headers` of a preflight. @default the request's `access-control-request-headers` */
  headers?: string[];
  /** `access-control-expose-headers`. @default none */
  exposeHeaders?: string[];
  /** `access-control-allow-credentials: true`. @default false */
  credentials?: boolean;
  /** `access-control-max-age` of a preflight, in seconds. @default none */
  maxAge?: number;
}

/** The request `compute()` gets: the request, with EdgeJS's conveniences. */
export interface ComputeRequest extends Request {
  /** Path parameters of the route. */
  readonly params: Record<string, string>;
  /** The path, without the query. */
  readonly path: string;
  /** Query parameters (the first value of each). */
  readonly query: Record<string, string>;
  /** A request header, or undefined. */
  getHeader(name: string): string | undefined;
}

/** The response `compute()` fills in; sent when its function returns. */
export interface ComputeResponse {
  /** @default 200 */
  statusCode: number;
  /** @default '' */
  statusMessage: string;
  /** The body. @default none */
  body: string | Uint8Array | undefined;
  setHeader(name: string, value: string): void;
  getHeader(name: string): string | undefined;
  removeHeader(name: string): void;
}

/** What `compute()` runs at request time. */
export type ComputeFn = (
  request: ComputeRequest,
  response: ComputeResponse,
) => void | Promise<void>;

/** Options of `serveStatic()` for one file (EdgeJS's `statusCode`). */
export interface ServeStaticFileOptions {
  /** The status the file is sent with. @default 200 */
  statusCode?: number;
}

/** Options of `redirect()`. */
export interface RedirectOptions {
  /** 301, 302, 303, 307 or 308. @default 302 */
  statusCode?: number;
}

/** Options of `serveStatic()`. */
export interface ServeStaticOptions {
  /**
   * The files have content-hashed names: they stay served by later
   * deployments too, with `cache-control: immutable`. @default false
   */
  permanent?: boolean;
  /** Files under `dir` (relative paths, e.g. `index.html`) not to serve. */
  exclude?: string[];
}

/**
 * What a route handler gets. Handlers are declarative: they call these
 * helpers synchronously, once, when the router is described at build time
 * (and when it first serves), never per request. Anything that depends on
 * the request belongs in the {@link RenderFn} given to `render()`.
 */
export interface ResponseWriter {
  /**
   * A synthetic request (the handler runs at build time). Reading it to
   * decide what to declare fails the build when the two build-time runs
   * disagree; reading it after the handler returned (inside a RenderFn)
   * throws: use `ctx.request` there.
   */
  readonly request: Request;
  /** Synthetic path parameters; the same rules as {@link ResponseWriter.request}. */
  readonly params: Readonly<Record<string, string>>;
  /**
   * Declares cache options; several calls (and routes) merge field by
   * field, later ones winning.
   *
   * @throws InvalidRouteError naming a bad or unknown field.
   */
  cache(options: CacheOptions): void;
  /** Answers by running `fn` in the bundle at request time. */
  render(fn: RenderFn): void;
  /**
   * Forwards the request (method, headers, body) to a declared backend:
   * `backend://<backend><path>`.
   */
  proxy(backend: string, options?: ProxyOptions): void;
  /**
   * Answers with a redirect to `to` (a path or an http(s) URL; the route's
   * parameters are substituted: `/p/:id`).
   */
  redirect(to: string, options?: RedirectOptions): void;
  /**
   * Serves the build's static files under `dir`. The shield serves them
   * without running the bundle; inside the bundle such a route answers 404.
   * A path whose last segment has an extension (`errors/404.html`) is one
   * file: the shield serves it with `statusCode` (EdgeJS's form).
   */
  serveStatic(dir: string, options?: ServeStaticOptions | ServeStaticFileOptions): void;
  /** Answers with a fixed body (a string), status and headers. @default status 200 */
  send(body: string, status?: number, headers?: Record<string, string>): void;
  /** Sets a response header. `${req:name}` in `value` is the request header `name`. */
  setResponseHeader(name: string, value: string): void;
  /** Removes a response header. */
  removeResponseHeader(name: string): void;
  /** Removes a header from the backend's response of a `proxy()` route. */
  removeUpstreamResponseHeader(name: string): void;
  /** Sets a request header (seen by the render or the backend). `${req:name}` is interpolated. */
  setRequestHeader(name: string, value: string): void;
  /** Removes a request header. */
  removeRequestHeader(name: string): void;
  /**
   * Replaces what `pattern` matches in response header `name` (as
   * `String.prototype.replace`, so `$1` works). Applied to the final
   * response, before the shield's cache.
   */
  updateResponseHeader(name: string, pattern: RegExp, replacement: string): void;
  /** As {@link ResponseWriter.updateResponseHeader}, on the answer of the route's render or backend. */
  updateUpstreamResponseHeader(name: string, pattern: RegExp, replacement: string): void;
  /** As {@link ResponseWriter.updateResponseHeader}, on a request header (seen by the render or the backend). */
  updateRequestHeader(name: string, pattern: RegExp, replacement: string): void;
  /** Sets a header on the answer of the route's render or backend. */
  setUpstreamResponseHeader(name: string, value: string): void;
  /** Adds a `set-cookie: name=value` to the response (which the shield then does not store). */
  addResponseCookie(name: string, value: string): void;
  /**
   * Adds CORS headers to the response and answers preflight `OPTIONS`
   * requests for the route's path with `204`.
   */
  allowCors(options?: CorsOptions): void;
  /** Answers by running `fn(request, response)` in the bundle at request time. */
  compute(fn: ComputeFn): void;
  /**
   * Serves a service worker file of the build (`public/service-worker.js`,
   * or a path under the static directory) from the shield, never cached by
   * the browser, with `service-worker-allowed: /`.
   */
  serviceWorker(file: string): void;
  /**
   * EdgeJS: hands the request to the framework app. A Router app has none
   * in Flotilla (framework apps are built from their own routes), so
   * `flotilla build` fails naming the route: use `render()`.
   */
  renderWithApp(): void;
  /**
   * Passes request facts to the render (and a proxied origin) on a
   * cacheable route, where the request is otherwise rebuilt from the cache
   * key's allow-list: header names, and `client-ip` (the front door's
   * believed client address, as `x-flotilla-client-ip`). A header the
   * front door reads the client address or geo facts from
   * (`--client-ip-header`, `--geo-headers`) carries the believed value,
   * never what an untrusted peer sent. `${req:name}` in
   * `setRequestHeader()` then sees them. `flotilla build` warns what it
   * does to the cache.
   *
   * @example
   * passRequestFacts(['x-your-cdn-client-ip-header'], { cacheKey: 'none' });
   * setRequestHeader('x-client-ip', '${req:x-your-cdn-client-ip-header}');
   */
  passRequestFacts(facts: string[], options: PassRequestFactsOptions): void;
}

/** Options of `passRequestFacts()`. */
export interface PassRequestFactsOptions {
  /**
   * `add`: each fact is part of the cache key (one cached copy per value;
   * for `client-ip`, one per visitor). `none`: passed unkeyed, uncached by
   * design: the first visitor's value reaches the render whose response is
   * stored for everyone, so the response must not depend on it (logging,
   * fraud checks). Required.
   */
  cacheKey: 'add' | 'none';
}

/** A route handler: declares, synchronously, what the route does. */
export type RouteHandler = (writer: ResponseWriter) => void;

/**
 * What a query parameter, header or cookie of a route's criteria must be:
 * an exact value, `true` (present, any value), or a regular expression the
 * value must match (anywhere, as `RegExp.test`; flags `i`, `m`, `s`, `u`).
 */
export type CriteriaValue = string | true | RegExp | RegexSpec;

/**
 * Criteria as `get()`, `post()`, … take them: the manifest's, with
 * `RegExp` values for query parameters, headers and cookies.
 */
export type RouteCriteriaInput = Omit<RouteCriteria, 'method' | 'query' | 'headers' | 'cookies'> & {
  /** Query parameters that must be present (name → {@link CriteriaValue}). */
  query?: Record<string, CriteriaValue>;
  /** Request headers that must be present (name → {@link CriteriaValue}). */
  headers?: Record<string, CriteriaValue>;
  /** Cookies that must be present (name → {@link CriteriaValue}). */
  cookies?: Record<string, CriteriaValue>;
};

/** Criteria as `match()` takes them: like the manifest's, methods in any case. */
export type MatchCriteria = RouteCriteriaInput & {
  method?: Array<HttpMethod | Lowercase<HttpMethod>> | HttpMethod | Lowercase<HttpMethod>;
};

/** A request `router.prerender()` lists (EdgeJS `PrerenderRequest`): a path, with a query if needed. */
export interface PrerenderRequest {
  /** Path (and query) rendered and stored at promote, e.g. `/` or `/p/1?color=red`. */
  path: string;
}

/** What `router.prerender()` takes: the requests, or a function (sync or async) returning them. */
export type PrerenderSource =
  | readonly PrerenderRequest[]
  | (() => readonly PrerenderRequest[] | Promise<readonly PrerenderRequest[]>);
