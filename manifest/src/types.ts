/**
 * The deployment manifest (`manifest.json`, version 2): what `flotilla build`
 * writes next to `bundle.js`, and what the shield reads to route and cache a
 * request before any code runs. Everything here is plain JSON.
 *
 * @module
 */

/** Frameworks a bundle can declare. `none` is a plain fetch handler. */
export type BundleFramework = 'react' | 'vue' | 'none';

/** HTTP methods a route can match. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/**
 * What a route matches, EdgeJS style. `path` is a pattern: literal segments,
 * `:name` (one segment), `:name?` (optional segment), `:name*` (zero or more
 * segments), `:name+` (one or more segments). Every other field narrows it.
 */
export interface RouteCriteria {
  /** Path pattern, e.g. `/p/:productId`, `/:splat*`, `/docs/:page?`. */
  path: string;
  /** Methods matched; absent: every method. Upper case. */
  method?: HttpMethod[];
  /** Host names matched (lower case, no port); absent: any host. */
  host?: string[];
  /**
   * Query parameters that must be present: name → exact value, or `true`
   * for "present with any value".
   */
  query?: Record<string, string | true>;
  /** Request headers that must be present (lower-case name → exact value, or `true`). */
  headers?: Record<string, string | true>;
  /** Cookies that must be present (name → exact value, or `true`). */
  cookies?: Record<string, string | true>;
}

/**
 * How the cache key of a route is built. The default key (all fields at
 * their defaults) is host, path and the whole normalised query string.
 */
export interface CacheKeySpec {
  /**
   * Which query parameters are in the key: all (default), only the listed
   * ones (`excludeAllQueryParametersExcept`), or all but the listed ones
   * (`excludeQueryParameters`).
   */
  query: { mode: 'all' } | { mode: 'only'; names: string[] } | { mode: 'exclude'; names: string[] };
  /** Cookies whose values are in the key (`addCookie`). */
  cookies: string[];
  /** Request headers (lower case) whose values are in the key (`addHeader`). */
  headers: string[];
  /** The device class (`smartphone`, `tablet`, `mobile`, `desktop`) is in the key (`addDevice`). */
  device: boolean;
  /** The browser family is in the key (`addBrowser`). */
  browser: boolean;
}

/** Edge (shield) caching of a route. */
export interface EdgeCacheOptions {
  /** Seconds a response is fresh at the shield. */
  maxAgeSeconds?: number;
  /** Seconds past `maxAgeSeconds` a stale copy is served while one revalidation runs. */
  staleWhileRevalidateSeconds?: number;
  /** Cache even when the response says `private`. @default false */
  forcePrivateCaching?: boolean;
}

/** Browser caching of a route (sets the client-facing `cache-control`). */
export interface BrowserCacheOptions {
  /** `cache-control: max-age` sent to the browser; 0 means `no-cache`. */
  maxAgeSeconds?: number;
  /** `x-sw-cache-control: max-age` for a service worker. */
  serviceWorkerSeconds?: number;
}

/** The cache options of a route, as `cache({...})` declared them. */
export interface RouteCacheOptions {
  /** `false`: never cache at the edge. Absent: the response's own headers decide. */
  edge?: EdgeCacheOptions | false;
  browser?: BrowserCacheOptions;
  /** Custom cache key; absent: the default key. */
  key?: CacheKeySpec;
}

/** What a matched route does with the request. */
export type RouteAction =
  /** Runs the bundle (SSR through an adapter, or any handler code). */
  | { kind: 'render' }
  /** Forwards to a declared backend. */
  | { kind: 'proxy'; backend: string; path?: string }
  /** Answers a redirect without running code. */
  | { kind: 'redirect'; to: string; statusCode: number }
  /**
   * Serves files of the build's static assets under `dir` (the shield does;
   * the bundle never sees these requests). `exclude` lists files under `dir`
   * (relative paths, e.g. `index.html`) that are not served.
   */
  | { kind: 'static'; dir: string; permanent: boolean; exclude?: string[] }
  /** Header changes only: the request goes on to the next matching route. */
  | { kind: 'headers' };

/** A header change a route applies. `${req:name}` in a value is interpolated from the request header. */
export type HeaderOp =
  | { op: 'setResponse'; name: string; value: string }
  | { op: 'removeResponse'; name: string }
  | { op: 'removeUpstreamResponse'; name: string }
  | { op: 'setRequest'; name: string; value: string }
  | { op: 'removeRequest'; name: string };

/** One route of the manifest, in declaration order (`use()`d routers flattened in place). */
export interface ManifestRoute {
  /** Index in `routes`, stable for this deployment. */
  id: number;
  criteria: RouteCriteria;
  /** A fallback route runs only when no non-fallback route with a terminal action matched. */
  fallback: boolean;
  /** The terminal action, or `headers` for a route that only sets cache/headers. */
  action: RouteAction;
  /** Cache options declared by the route, if it called `cache()`. */
  cache?: RouteCacheOptions;
  /** Header changes, in call order. */
  headerOps: HeaderOp[];
}

/** A static asset of the build. */
export interface ManifestAsset {
  /** URL path it is served at, e.g. `/assets/app.3f2a1b9c.css`. */
  path: string;
  /** sha256 of the bytes, hex. */
  hash: string;
  bytes: number;
  contentType: string;
  /**
   * A hashed (content-addressed) file name: served by every later
   * deployment of the app too, with `cache-control: immutable`, so open
   * browser tabs keep working after a promote.
   */
  permanent: boolean;
}

/**
 * Sandbox limits a deployment asks for (`limits` in `flotilla.config.json`),
 * each lower than or equal to the operator's: a worker holds the deployment to
 * the smaller of what it asks and what the operator allows, so asking for
 * more than the operator's limit gets the operator's limit. Every value is a
 * positive integer; an absent key means the operator's limit.
 *
 * @example
 * // A deployment that should never need more than 200 ms of CPU or 64 MB of heap.
 * const limits: ManifestLimits = { cpuMs: 200, heapMb: 64 };
 */
export interface ManifestLimits {
  /** CPU time of one render, in ms (`FLOTILLA_ERR_CPU_LIMIT` past it). */
  cpuMs?: number;
  /** Wall time of one render, in ms (`FLOTILLA_ERR_WALL_LIMIT` past it). */
  wallMs?: number;
  /** Isolate heap, in MB; at least 8 (`FLOTILLA_ERR_MEMORY_LIMIT` past it). */
  heapMb?: number;
  /** Largest response body, in bytes (`FLOTILLA_ERR_OUTPUT_LIMIT` past it). */
  outputBytes?: number;
  /** Largest `bundle.js`, in bytes (`FLOTILLA_ERR_BUNDLE` at load past it). */
  bundleBytes?: number;
  /** Largest body one backend `fetch` may return, in bytes (the `fetch` rejects past it). */
  backendResponseBytes?: number;
}

/** `manifest.json`, version 2. */
export interface Manifest {
  manifestVersion: 2;
  /** App name: 1–63 lower-case letters, digits, `-`. */
  name: string;
  framework: BundleFramework;
  /** sha256 of `bundle.js`, hex. */
  bundleHash: string;
  bundleBytes: number;
  /** sha256 over the bundle hash, the asset hashes and the routes: the deployment's identity. */
  contentHash: string;
  /** ISO 8601. Not part of `contentHash`. */
  builtAt: string;
  routes: ManifestRoute[];
  /** Named backends the bundle may fetch: name → default origin (an environment may re-point them). */
  backends: Record<string, string>;
  assets: ManifestAsset[];
  /**
   * Sandbox limits the deployment asks for, below the operator's (see
   * {@link ManifestLimits}). Part of `contentHash` when present.
   * @default absent: the operator's limits
   */
  limits?: ManifestLimits;
}

/** A request as the matcher sees it. */
export interface MatchRequest {
  method: string;
  /** Host without port, lower case. */
  host: string;
  /** Path, percent-encoded as received, no query. */
  path: string;
  /** Raw query string without `?`, `''` for none. */
  query: string;
  /** Lower-case header name → value. */
  headers: Record<string, string>;
}

/** What matching a request against a manifest's routes yields. */
export interface RouteDecision {
  /** Ids of every matched route, in order (header/cache-only routes and the terminal one). */
  routeIds: number[];
  /** The route whose action answers, or undefined when none (a 404 from the bundle). */
  terminal: ManifestRoute | undefined;
  /** Path parameters of the terminal route (`:productId` → value; `*`/`+` joined by `/`). */
  params: Record<string, string>;
  /** Cache options merged over the matched routes in order (later calls win field by field). */
  cache: RouteCacheOptions | undefined;
  /** Header changes of every matched route, in order. */
  headerOps: HeaderOp[];
}
