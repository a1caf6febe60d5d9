/**
 * The deployment manifest (`manifest.json`, version 2): what `flotilla build`
 * writes next to `bundle.js`, and what the shield reads to route and cache a
 * request before any code runs. Everything here is plain JSON.
 *
 * Each part is a schema, and its type is inferred from it; a failed check
 * names the field and the problem (see `validate.ts`). A route's parts are
 * in `route-schema.ts` (action, catch, destination, request facts),
 * `criteria-schema.ts`, `cache-options-schema.ts`, `header-op-schema.ts`
 * and `regex-schema.ts`; the fields they share in `schema-fields.ts`. Checks that span
 * fields (a route's id is its index, a proxy names a declared backend, asset
 * paths are unique) are in `validate.ts`.
 *
 * @module
 */

import { MAX_PRERENDER_PATHS, PrerenderPathSchema } from '@flotilla/protocol';
import { APP_NAME, describeValue, HEX64 } from '@flotilla/protocol/patterns';
import { BackendsSchema, got, integer, strictObject } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import type { RouteCacheOptions } from './cache-options-schema.ts';
import type { HeaderOp } from './header-op-schema.ts';
import { type ManifestRoute, ManifestRouteSchema } from './route-schema.ts';
import { bool, list, noCrLf, nonNegativeInt, oneOf, text, unique } from './schema-fields.ts';

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
