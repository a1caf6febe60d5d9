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
  /** Browser caching (the client-facing `cache-control`). */
  browser?: BrowserCacheOptions;
  /** The cache key: a {@link CustomCacheKey} (or its spec). Absent: host, path and whole query. */
  key?: CustomCacheKey | CacheKeySpec;
}

/** Options of `proxy()`. */
export interface ProxyOptions {
  /**
   * Path at the backend, with the route's parameters substituted
   * (`/:path*`); the request's query string is appended. Absent: the
   * request's own path.
   */
  path?: string;
  /**
   * Changes the backend's response before it is sent (runs in the bundle;
   * the shield then sends such requests to the bundle).
   */
  transformResponse?: (response: Response, request: Request) => Response | Promise<Response>;
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
   */
  serveStatic(dir: string, options?: ServeStaticOptions): void;
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
}

/** A route handler: declares, synchronously, what the route does. */
export type RouteHandler = (writer: ResponseWriter) => void;

/** Criteria as `match()` takes them: like the manifest's, methods in any case. */
export type MatchCriteria = Omit<RouteCriteria, 'method'> & {
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
