/**
 * The deployment manifest (`manifest.json`, version 2): what `flotilla build`
 * writes next to `bundle.js`, and what the shield reads to route and cache a
 * request before any code runs. Everything here is plain JSON.
 *
 * Each part is a schema, and its type is inferred from it; a failed check
 * names the field and the problem (see `validate.ts`). Checks that span
 * fields (a route's id is its index, a proxy names a declared backend, asset
 * paths are unique) are in `validate.ts`.
 *
 * @module
 */

import { MAX_PRERENDER_PATHS, PrerenderPathSchema } from '@flotilla/protocol';
import {
  APP_NAME,
  DESTINATION_NAME,
  describeValue,
  HEX64,
  HOST,
  HTTP_TOKEN,
  UNSAFE_HEADER_VALUE,
} from '@flotilla/protocol/patterns';
import {
  BackendsSchema,
  got,
  integer,
  type Message,
  plainObject,
  requiredString,
  strictFields,
  strictObject,
  table,
} from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { compilePattern } from './pattern.ts';
import { regexProblem } from './regex.ts';

/** HTTP methods a route may list. */
export const HTTP_METHODS = Object.freeze([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
] as const);

/** HTTP methods a route can match. */
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Status codes a redirect may use. */
export const REDIRECT_STATUS_CODES: readonly number[] = Object.freeze([301, 302, 303, 307, 308]);

/** The smallest isolate heap, in MB (isolated-vm refuses less). */
const MIN_HEAP_MB = 8;

/**
 * Frameworks a bundle can declare: `react` and `vue` (the Router with its
 * React or Vue pages), `none` (a fetch handler or a Router without a UI
 * framework), `react-router` (a React Router app in framework mode),
 * `sveltekit` (a SvelteKit app), `angular` (an Angular SSR app), `nuxt` (a
 * Nuxt app).
 */
export const BUNDLE_FRAMEWORKS = Object.freeze([
  'react',
  'vue',
  'none',
  'react-router',
  'sveltekit',
  'angular',
  'nuxt',
  'next',
] as const);

/** Frameworks a bundle can declare. `none` is a plain fetch handler. */
export type BundleFramework = (typeof BUNDLE_FRAMEWORKS)[number];

const oneOf = (values: readonly unknown[]) => got(`must be one of ${values.join(', ')}`);

/** Builds `must be … (got …)` messages of the manifest's own vocabulary. */
const text = () => requiredString();
const nonNegativeInt = () => integer(0, got('must be a non-negative integer'));
const bool = () => v.boolean(got('must be true or false'));
const list = <S extends v.GenericSchema>(item: S) => v.array(item, got('must be an array'));
const noCrLf = (message = 'must not contain CR, LF or NUL') =>
  v.check((s: string) => !UNSAFE_HEADER_VALUE.test(s), message);
const unique = <T>() => v.transform((items: T[]) => [...new Set(items)]);

/** A header name: an HTTP token, lower-cased. */
const headerName = () =>
  v.pipe(
    text(),
    v.regex(HTTP_TOKEN, got('must be an HTTP header name (a token)')),
    v.transform((name) => name.toLowerCase()),
  );

const headerValue = () => v.pipe(v.string(got('must be a string')), noCrLf());

/** The fields of a carried regular expression (`RegExp.source` and flags). */
const regexFields = {
  regex: v.string(got('must be a string (RegExp.source)')),
  flags: v.optional(v.string(got('must be a string of flags'))),
};

/** Refuses a pattern the matcher cannot carry (see `regexProblem`), `prefix` first. */
const carriedRegex = <T extends { regex: string; flags?: string | undefined }>(
  prefix: (value: T) => string = () => '',
) =>
  v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const { regex, flags } = dataset.value;
    const problem = regexProblem(regex, flags);
    if (problem !== undefined) {
      addIssue({ message: `${prefix(dataset.value)}/${regex}/${flags ?? ''} ${problem}` });
    }
  });

/** A regular expression carried as data: `{ regex, flags? }`. */
export const RegexSpecSchema = v.pipe(
  strictObject(regexFields),
  carriedRegex<{ regex: string; flags?: string | undefined }>(),
);

/** Name → exact value, `true` for "present with any value", or a regular expression. */
const matchTable = <K extends v.GenericSchema<string, string>>(key: K) =>
  table(
    key,
    v.union(
      [v.literal(true), v.string(), RegexSpecSchema],
      got('must be an exact value (a string), true for "present" or { regex, flags }'),
    ),
    got('must be an object of name → exact value, true or { regex, flags }'),
  );

const hostName = v.pipe(
  text(),
  v.check((h) => HOST.test(h.toLowerCase()), got('must be a host name without scheme or path')),
  v.check((h) => {
    const lower = h.toLowerCase();
    // One colon and digits after it is a port; IPv6 has several colons or brackets.
    return !(
      /:[0-9]*$/.test(lower) &&
      !lower.endsWith(']') &&
      lower.indexOf(':') === lower.lastIndexOf(':')
    );
  }, got('must not have a port')),
  v.transform((h) => h.toLowerCase()),
);

const method = v.pipe(
  text(),
  v.check(
    (m) => (HTTP_METHODS as readonly string[]).includes(m.toUpperCase()),
    oneOf(HTTP_METHODS),
  ),
  v.transform((m) => m.toUpperCase() as HttpMethod),
);

/**
 * What a route matches, EdgeJS style. `path` is a pattern: literal segments,
 * `:name` (one segment), `:name?` (optional segment), `:name*` (zero or more
 * segments), `:name+` (one or more segments), each optionally constrained
 * (`:id(\\d+)`: every segment must match it whole). Every other field
 * narrows it; a query, header or cookie value is exact, `true` (present) or
 * `{ regex, flags }` (`RegExp.test` on the value).
 * Methods are upper-cased, hosts and header names lower-cased.
 */
export const RouteCriteriaSchema = strictObject({
  /** Path pattern, e.g. `/p/:productId`, `/:splat*`, `/docs/:page?`, `/p/:id(\\d+)`. */
  path: v.pipe(
    text(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      try {
        compilePattern(dataset.value);
      } catch (err) {
        addIssue({ message: (err as { problem?: string }).problem ?? String(err) });
      }
    }),
  ),
  /** Methods matched; absent: every method. Upper case. */
  method: v.optional(
    v.pipe(
      list(method),
      v.minLength(1, 'must list at least one method (leave it out for every method)'),
      unique<HttpMethod>(),
    ),
  ),
  /** Host names matched (lower case, no port); absent: any host. */
  host: v.optional(
    v.pipe(
      list(hostName),
      v.minLength(1, 'must list at least one host (leave it out for every host)'),
    ),
  ),
  /**
   * Query parameters that must be present: name → exact value, `true` for
   * "present with any value", or `{ regex, flags }` (any value matching).
   */
  query: v.optional(matchTable(v.string())),
  /** Request headers that must be present (lower-case name → exact value, `true` or `{ regex, flags }`). */
  headers: v.optional(matchTable(headerName())),
  /** Cookies that must be present (name → exact value, `true` or `{ regex, flags }`). */
  cookies: v.optional(
    matchTable(v.pipe(v.string(), v.regex(HTTP_TOKEN, 'is not a valid cookie name'))),
  ),
});

/** What a route matches ({@link RouteCriteriaSchema}). */
export type RouteCriteria = v.InferOutput<typeof RouteCriteriaSchema>;

const queryNames = list(text());

/** The partitions of a keyed cookie or header: name and pattern, tried in order. */
const partitionList = () =>
  v.pipe(
    list(
      v.pipe(
        strictObject({
          name: v.pipe(text(), v.maxLength(64, got('must be at most 64 characters')), noCrLf()),
          ...regexFields,
        }),
        carriedRegex<{ name: string; regex: string; flags?: string | undefined }>(
          (p) => `partition "${p.name}": `,
        ),
      ),
    ),
    v.minLength(1, 'must list at least one partition'),
  );

const mustBeAbsent: Message = () => 'must be absent when mode is "all"';

/**
 * How the cache key of a route is built. The default key (all fields at
 * their defaults) is host, path and the whole normalised query string.
 */
const CacheKeyFieldsSchema = strictObject({
  /**
   * Which query parameters are in the key: all (default), only the listed
   * ones (`excludeAllQueryParametersExcept`), or all but the listed ones
   * (`excludeQueryParameters`).
   */
  query: v.pipe(
    plainObject(),
    v.variant(
      'mode',
      [
        strictFields({
          mode: v.literal('all'),
          names: v.optional(v.never(mustBeAbsent)),
        }),
        strictFields({ mode: v.literal('only'), names: v.pipe(queryNames, unique<string>()) }),
        strictFields({
          mode: v.literal('exclude'),
          names: v.pipe(
            queryNames,
            v.minLength(1, 'must list at least one parameter when mode is "exclude"'),
            unique<string>(),
          ),
        }),
      ],
      got('must be "all", "only" or "exclude"'),
    ),
  ),
  /** Cookies whose values are in the key (`addCookie`). */
  cookies: v.pipe(
    list(v.pipe(text(), v.regex(HTTP_TOKEN, got('must be a cookie name')))),
    unique<string>(),
  ),
  /** Request headers (lower case) whose values are in the key (`addHeader`). */
  headers: v.pipe(list(headerName()), unique<string>()),
  /** The device class (`smartphone`, `tablet`, `mobile`, `desktop`) is in the key (`addDevice`). */
  device: bool(),
  /** The browser family is in the key (`addBrowser`). */
  browser: bool(),
  /**
   * Cookies of `cookies` whose value is keyed by partition: the name of the
   * first partition whose pattern the value matches, else none
   * (`addCookie(name, partitions => …)`).
   */
  cookiePartitions: v.optional(
    table(v.pipe(v.string(), v.regex(HTTP_TOKEN, 'is not a valid cookie name')), partitionList()),
  ),
  /** Headers of `headers` (lower case) keyed by partition, as `cookiePartitions`. */
  headerPartitions: v.optional(table(headerName(), partitionList())),
  /** Whether the client is a bot is in the key (`addIsBot`). @default false */
  isBot: v.optional(bool()),
  /** The device vendor (`apple`, `android`, `generic`) is in the key (`addVendor`). @default false */
  vendor: v.optional(bool()),
});

/**
 * How the cache key of a route is built: {@link CacheKeyFieldsSchema}, with
 * partitions only for keyed cookies and headers.
 */
export const CacheKeySpecSchema = v.pipe(
  CacheKeyFieldsSchema,
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const spec = dataset.value;
    for (const [field, names, listed] of [
      ['cookiePartitions', spec.cookiePartitions, spec.cookies],
      ['headerPartitions', spec.headerPartitions, spec.headers],
    ] as const) {
      for (const name of Object.keys(names ?? {})) {
        if (!listed.includes(name)) {
          addIssue({
            message: `${field} names "${name}", which is not in the key's ${field === 'cookiePartitions' ? 'cookies' : 'headers'}`,
          });
        }
      }
    }
  }),
);

/** How the cache key of a route is built ({@link CacheKeySpecSchema}). */
export type CacheKeySpec = v.InferOutput<typeof CacheKeySpecSchema>;

/** Edge (shield) caching of a route. */
export const EdgeCacheOptionsSchema = strictObject(
  {
    /** Seconds a response is fresh at the shield. */
    maxAgeSeconds: v.optional(nonNegativeInt()),
    /** Seconds past `maxAgeSeconds` a stale copy is served while one revalidation runs. */
    staleWhileRevalidateSeconds: v.optional(nonNegativeInt()),
    /** Cache even when the response says `private`. @default false */
    forcePrivateCaching: v.optional(bool()),
  },
  {
    notObject: (issue) =>
      issue.input === true
        ? 'must be false (never cache) or an object of edge options (got true)'
        : got('must be an object')(issue),
  },
);

/** Edge (shield) caching of a route ({@link EdgeCacheOptionsSchema}). */
export type EdgeCacheOptions = v.InferOutput<typeof EdgeCacheOptionsSchema>;

/** Browser caching of a route (sets the client-facing `cache-control`). */
export const BrowserCacheOptionsSchema = strictObject({
  /** `cache-control: max-age=N` sent to the browser (`max-age=0` for 0, as EdgeJS). */
  maxAgeSeconds: v.optional(nonNegativeInt()),
  /** `x-sw-cache-control: max-age` for a service worker. */
  serviceWorkerSeconds: v.optional(nonNegativeInt()),
});

/** Browser caching of a route ({@link BrowserCacheOptionsSchema}). */
export type BrowserCacheOptions = v.InferOutput<typeof BrowserCacheOptionsSchema>;

/**
 * The cache options of a route, as `cache({...})` declared them (with `key`
 * already a {@link CacheKeySpec}). Every number is a non-negative integer of
 * seconds; unknown fields are refused by name.
 */
export const RouteCacheOptionsSchema = strictObject({
  /** `false`: never cache at the edge. Absent: the response's own headers decide. */
  edge: v.optional(v.lazy((edge) => (edge === false ? v.literal(false) : EdgeCacheOptionsSchema))),
  /**
   * `false`: no browser caching (`cache-control: private, no-store`, as
   * EdgeJS turns it off). Absent: the response's own `cache-control`.
   */
  browser: v.optional(
    v.lazy((browser) => (browser === false ? v.literal(false) : BrowserCacheOptionsSchema)),
  ),
  /** Custom cache key; absent: the default key. */
  key: v.optional(CacheKeySpecSchema),
});

/** The cache options of a route ({@link RouteCacheOptionsSchema}). */
export type RouteCacheOptions = v.InferOutput<typeof RouteCacheOptionsSchema>;

const pathStartingWithSlash = () => v.pipe(text(), v.startsWith('/', got('must start with "/"')));

/** What a matched route does with the request. */
export const RouteActionSchema = v.pipe(
  plainObject(),
  v.variant(
    'kind',
    [
      /** Runs the bundle (SSR through an adapter, or any handler code). */
      strictFields({ kind: v.literal('render') }),
      /**
       * Forwards to a declared backend. With `noCode` the shield answers it
       * itself (no render); without, the bundle does.
       */
      strictFields({
        kind: v.literal('proxy'),
        backend: text(),
        path: v.optional(pathStartingWithSlash()),
        /**
         * The route's `proxy()` options run no code (no `transformRequest`,
         * `transformResponse` or path function): the shield may answer it.
         * Absent (code, or a manifest built before the field): only the
         * bundle answers it.
         */
        noCode: v.optional(v.literal(true)),
      }),
      /** Answers a redirect without running code. */
      strictFields({
        kind: v.literal('redirect'),
        to: v.pipe(
          text(),
          v.check(
            (to) => to.startsWith('/') || /^https?:\/\//i.test(to),
            got('must be a path ("/…") or an http(s) URL'),
          ),
          noCrLf(),
        ),
        statusCode: v.pipe(
          v.number(oneOf(REDIRECT_STATUS_CODES)),
          v.check((code) => REDIRECT_STATUS_CODES.includes(code), oneOf(REDIRECT_STATUS_CODES)),
        ),
      }),
      /**
       * Serves files of the build's static assets under `dir` (the shield
       * does; the bundle never sees these requests). `exclude` lists files
       * under `dir` (relative paths, e.g. `index.html`) that are not served.
       */
      strictFields({
        kind: v.literal('static'),
        dir: v.pipe(
          text(),
          v.check(
            (dir) => !dir.split(/[\\/]/).includes('..'),
            got('must not contain ".." segments'),
          ),
        ),
        permanent: bool(),
        exclude: v.optional(list(text())),
        /**
         * `router.static(dir)`: answers only requests for a file of the build
         * (the shield serves those); any other request goes on to the next route.
         */
        filesOnly: v.optional(v.literal(true)),
      }),
      /**
       * Serves one static file of the build (`serveStatic(file)`,
       * `serviceWorker(file)`) without running code. `file` is as the route
       * wrote it; the build resolves it to the asset's URL `path`.
       */
      strictFields({
        kind: v.literal('asset'),
        file: v.pipe(
          text(),
          v.check(
            (file) => !file.split(/[\\/]/).includes('..'),
            got('must not contain ".." segments'),
          ),
        ),
        path: v.optional(pathStartingWithSlash()),
        /** The status it is sent with. @default 200 */
        status: v.optional(
          v.pipe(
            integer(200, got('must be an integer from 200 to 599')),
            v.maxValue(599, got('must be an integer from 200 to 599')),
          ),
        ),
        /** A service worker: `service-worker-allowed: /` and never cached by the browser. */
        serviceWorker: v.optional(bool()),
      }),
      /** Header changes only: the request goes on to the next matching route. */
      strictFields({ kind: v.literal('headers') }),
    ],
    oneOf(['render', 'proxy', 'redirect', 'static', 'asset', 'headers']),
  ),
);

/** What a matched route does with the request ({@link RouteActionSchema}). */
export type RouteAction = v.InferOutput<typeof RouteActionSchema>;

/** Flags a header rule's regular expression may have. */
export const HEADER_REGEX_FLAGS = /^(?!.*(.).*\1)[gimsu]*$/;

/** A regular expression as data: `new RegExp(pattern, flags)` must compile. */
const headerRegexFields = {
  pattern: v.pipe(
    v.string(got('must be a string')),
    v.check((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, got('must be a valid regular expression')),
  ),
  flags: v.pipe(
    v.string(got('must be a string')),
    v.regex(HEADER_REGEX_FLAGS, got('must be regular-expression flags from g, i, m, s, u')),
  ),
};

/**
 * Header rules of the handler helpers: `updateResponseHeader`,
 * `updateUpstreamResponseHeader`, `updateRequestHeader` (a regex replace on
 * a header's value),
 * `setUpstreamResponseHeader`, `addResponseCookie` and `allowCors`. Upstream
 * rules change the answer of the route's action (render or backend) before
 * the response rules.
 */
const HANDLER_HEADER_OPS = [
  strictFields({
    op: v.literal('updateResponse'),
    name: headerName(),
    ...headerRegexFields,
    replacement: headerValue(),
  }),
  strictFields({
    op: v.literal('updateUpstreamResponse'),
    name: headerName(),
    ...headerRegexFields,
    replacement: headerValue(),
  }),
  strictFields({
    op: v.literal('updateRequest'),
    name: headerName(),
    ...headerRegexFields,
    replacement: headerValue(),
  }),
  strictFields({ op: v.literal('setUpstreamResponse'), name: headerName(), value: headerValue() }),
  strictFields({
    op: v.literal('addResponseCookie'),
    name: v.pipe(text(), v.regex(HTTP_TOKEN, got('must be a cookie name'))),
    value: v.pipe(
      headerValue(),
      v.check((c) => !/[;,\s]/.test(c), got('must not contain ";", "," or white space')),
    ),
  }),
  strictFields({
    op: v.literal('cors'),
    /** `access-control-allow-origin`: `*`, one origin, or a list (the request's origin when listed). */
    origin: v.union([v.string(), list(text())], got('must be a string or an array of origins')),
    methods: v.optional(list(method)),
    headers: v.optional(list(headerName())),
    exposeHeaders: v.optional(list(headerName())),
    credentials: v.optional(bool()),
    maxAge: v.optional(nonNegativeInt()),
  }),
] as const;

const HANDLER_HEADER_OP_NAMES = [
  'updateResponse',
  'updateUpstreamResponse',
  'updateRequest',
  'setUpstreamResponse',
  'addResponseCookie',
  'cors',
];

/** A header change a route applies. `${req:name}` in a value is interpolated from the request header. */
export const HeaderOpSchema = v.pipe(
  plainObject(),
  v.variant(
    'op',
    [
      strictFields({ op: v.literal('setResponse'), name: headerName(), value: headerValue() }),
      strictFields({ op: v.literal('removeResponse'), name: headerName() }),
      strictFields({ op: v.literal('removeUpstreamResponse'), name: headerName() }),
      strictFields({ op: v.literal('setRequest'), name: headerName(), value: headerValue() }),
      strictFields({ op: v.literal('removeRequest'), name: headerName() }),
      ...HANDLER_HEADER_OPS,
    ],
    oneOf([
      'setResponse',
      'removeResponse',
      'removeUpstreamResponse',
      'setRequest',
      'removeRequest',
      ...HANDLER_HEADER_OP_NAMES,
    ]),
  ),
);

/** A header change a route applies ({@link HeaderOpSchema}). */
export type HeaderOp = v.InferOutput<typeof HeaderOpSchema>;

/**
 * A router destination's name (`router.destination(name, router)`): what a
 * split test sends visitors to inside one deployment.
 */
const destinationName = () =>
  v.pipe(text(), v.regex(DESTINATION_NAME, got('must be 1-64 letters, digits, "_" or "-"')));

/**
 * Request facts a cacheable route passes to its render (and proxied origin),
 * which the cache-mode allow-list would otherwise drop: header names, and
 * `client-ip` (the front door's believed client address, as
 * `x-flotilla-client-ip`). `cacheKey: 'add'` keys each fact (one copy per
 * value); `'none'` passes them unkeyed, uncached by design (the response
 * must not depend on them).
 */
export const RequestFactsSchema = strictObject({
  names: v.pipe(
    list(
      v.union([v.literal('client-ip'), headerName()], got('must be "client-ip" or a header name')),
    ),
    v.minLength(1, got('must name at least one fact')),
    unique(),
  ),
  cacheKey: v.picklist(['add', 'none'], oneOf(['add', 'none'])),
});

/** Request facts a cacheable route passes on ({@link RequestFactsSchema}). */
export type RequestFacts = v.InferOutput<typeof RequestFactsSchema>;

/**
 * One route of the manifest, in declaration order (`use()`d routers
 * flattened in place). Its `id` must be its index (checked by `validateRoute`).
 */
export const ManifestRouteSchema = strictObject({
  /** Index in `routes`, stable for this deployment. */
  id: integer(0, got("must be the route's index")),
  criteria: RouteCriteriaSchema,
  /** A fallback route runs only when no non-fallback route with a terminal action matched. */
  fallback: bool(),
  /** The terminal action, or `headers` for a route that only sets cache/headers. */
  action: RouteActionSchema,
  /** Cache options declared by the route, if it called `cache()`. */
  cache: v.optional(RouteCacheOptionsSchema),
  /** Header changes, in call order. */
  headerOps: list(HeaderOpSchema),
  /**
   * `router.catch(status, handler)`: the route is no match for requests; it
   * answers instead when a response's status matches `new RegExp(pattern)`
   * (the status as three digits), keeping that status.
   */
  catch: v.optional(strictObject({ pattern: headerRegexFields.pattern })),
  /** The router destination the route belongs to (`destination(name, router)`); absent: every destination. */
  destination: v.optional(destinationName()),
  /** Request facts passed to the render on a cacheable route (`passRequestFacts()`). */
  requestFacts: v.optional(RequestFactsSchema),
});

/** One route of the manifest ({@link ManifestRouteSchema}). */
export type ManifestRoute = v.InferOutput<typeof ManifestRouteSchema>;

const sha256 = () => v.pipe(text(), v.regex(HEX64, got('must be a sha256 in lower-case hex')));

/** A static asset of the build. */
export const ManifestAssetSchema = strictObject({
  /** URL path it is served at, e.g. `/assets/app.3f2a1b9c.css`. */
  path: v.pipe(
    text(),
    v.check(
      (path) => path.startsWith('/') && !/[?#\s]/.test(path) && !path.split('/').includes('..'),
      got('must be a URL path starting with "/", without "..", "?", "#" or spaces'),
    ),
  ),
  /** sha256 of the bytes, hex. */
  hash: sha256(),
  bytes: nonNegativeInt(),
  contentType: v.pipe(text(), noCrLf()),
  /**
   * A hashed (content-addressed) file name: served by every later
   * deployment of the app too, with `cache-control: immutable`, so open
   * browser tabs keep working after a promote.
   */
  permanent: bool(),
});

/** A static asset of the build ({@link ManifestAssetSchema}). */
export type ManifestAsset = v.InferOutput<typeof ManifestAssetSchema>;

const positiveInt = () => integer(1, got('must be a positive integer'));

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
export const ManifestLimitsSchema = strictObject({
  /** CPU time of one render, in ms (`FLOTILLA_ERR_CPU_LIMIT` past it). */
  cpuMs: v.optional(positiveInt()),
  /** Wall time of one render, in ms (`FLOTILLA_ERR_WALL_LIMIT` past it). */
  wallMs: v.optional(positiveInt()),
  /** Isolate heap, in MB; at least 8 (`FLOTILLA_ERR_MEMORY_LIMIT` past it). */
  heapMb: v.optional(
    v.pipe(positiveInt(), v.minValue(MIN_HEAP_MB, got(`must be at least ${MIN_HEAP_MB}`))),
  ),
  /** Largest response body, in bytes (`FLOTILLA_ERR_OUTPUT_LIMIT` past it). */
  outputBytes: v.optional(positiveInt()),
  /** Largest `bundle.js`, in bytes (`FLOTILLA_ERR_BUNDLE` at load past it). */
  bundleBytes: v.optional(positiveInt()),
  /** Largest body one backend `fetch` may return, in bytes (the `fetch` rejects past it). */
  backendResponseBytes: v.optional(positiveInt()),
});

/** Sandbox limits a deployment asks for ({@link ManifestLimitsSchema}). */
export type ManifestLimits = v.InferOutput<typeof ManifestLimitsSchema>;

/** The keys a manifest's `limits` may have, in the order of {@link ManifestLimits}. */
export const MANIFEST_LIMIT_KEYS = Object.freeze(
  Object.keys(ManifestLimitsSchema.pipe[1].entries) as (keyof ManifestLimits)[],
);

/** The problem of a bad app name (shared with `flotilla.config.json`). */
export const APP_NAME_PROBLEM =
  'must be 1-50 lower-case letters, digits or "-", not starting or ending with "-" (with its 13-character hash suffix a deployment id stays one 63-character host label)';

/** `manifest.json`, version 2. Unknown fields are refused, so a typo never silently drops a cache option. */
export const ManifestSchema = strictObject({
  manifestVersion: v.literal(
    2,
    (issue) =>
      `must be 2 (got ${describeValue(issue.input)}); rebuild the app with this version of flotilla`,
  ),
  /** App name: 1–50 lower-case letters, digits, `-` (see {@link APP_NAME_PROBLEM}). */
  name: v.pipe(text(), v.regex(APP_NAME, got(APP_NAME_PROBLEM))),
  framework: v.picklist(BUNDLE_FRAMEWORKS, oneOf(BUNDLE_FRAMEWORKS)),
  /** sha256 of `bundle.js`, hex. */
  bundleHash: sha256(),
  bundleBytes: nonNegativeInt(),
  /** sha256 over the bundle hash, the asset hashes and the routes: the deployment's identity. */
  contentHash: sha256(),
  /** ISO 8601. Not part of `contentHash`. */
  builtAt: v.pipe(
    text(),
    v.check((at) => !Number.isNaN(Date.parse(at)), got('must be an ISO 8601 date')),
  ),
  routes: list(ManifestRouteSchema),
  /**
   * Named backends the bundle may fetch: name → default origin (an
   * environment may re-point them), origins normalized.
   */
  backends: BackendsSchema,
  assets: list(ManifestAssetSchema),
  /**
   * Sandbox limits the deployment asks for, below the operator's (see
   * {@link ManifestLimits}). Part of `contentHash` when present.
   * @default absent: the operator's limits
   */
  limits: v.optional(ManifestLimitsSchema),
  /**
   * Paths the shields render and store at promote (`router.prerender()`,
   * `prerenderRequests` of `flotilla.config.json`), so the first visitor
   * gets a hit. Part of `contentHash` when present.
   * @default absent: none
   */
  prerender: v.optional(
    v.pipe(
      list(PrerenderPathSchema),
      v.maxLength(MAX_PRERENDER_PATHS, `must list at most ${MAX_PRERENDER_PATHS} paths`),
      unique<string>(),
    ),
  ),
});

/** `manifest.json`, version 2 ({@link ManifestSchema}). */
export type Manifest = v.InferOutput<typeof ManifestSchema>;

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
