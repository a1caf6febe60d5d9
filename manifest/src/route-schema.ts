/**
 * One route of the manifest: its criteria, action, cache options, header
 * changes, catch pattern, destination and request facts.
 *
 * @module
 */

import { DESTINATION_NAME } from '@flotilla/protocol/patterns';
import { got, integer, plainObject, strictFields, strictObject } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { RouteCacheOptionsSchema } from './cache-options-schema.ts';
import { RouteCriteriaSchema } from './criteria-schema.ts';
import { HeaderOpSchema } from './header-op-schema.ts';
import { RegexSpecSchema } from './regex-schema.ts';
import { bool, headerName, list, noCrLf, oneOf, text, unique } from './schema-fields.ts';

/** Status codes a redirect may use. */
export const REDIRECT_STATUS_CODES: readonly number[] = Object.freeze([301, 302, 303, 307, 308]);

const pathStartingWithSlash = () => v.pipe(text(), v.startsWith('/', got('must start with "/"')));

/** What a matched route does with the request. */
export const RouteActionSchema = v.pipe(
  plainObject(),
  v.variant(
    'kind',
    [
      /** Runs the bundle (SSR through an adapter, or any handler code). */
      strictFields({ kind: v.literal('render') }),
      /** Forwards to a declared backend. */
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
   * answers instead when a response's status matches `regex` (the status
   * as three digits), keeping that status.
   */
  catch: v.optional(RegexSpecSchema),
  /** The router destination the route belongs to (`destination(name, router)`); absent: every destination. */
  destination: v.optional(destinationName()),
  /** Request facts passed to the render on a cacheable route (`passRequestFacts()`). */
  requestFacts: v.optional(RequestFactsSchema),
});

/** One route of the manifest ({@link ManifestRouteSchema}). */
export type ManifestRoute = v.InferOutput<typeof ManifestRouteSchema>;
