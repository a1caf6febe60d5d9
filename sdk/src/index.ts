/**
 * `@flotilla/sdk`: what app developers import. Bundle-safe: nothing here
 * imports Node built-ins, so it may end up in `bundle.js`. The build tooling
 * is `@flotilla/sdk/build`; the adapters are `@flotilla/sdk/react` and
 * `@flotilla/sdk/vue`.
 *
 * @module
 */
export type {
  BrowserCacheOptions,
  CacheKeySpec,
  EdgeCacheOptions,
  HeaderOp,
  HttpMethod,
  ManifestAsset,
  RouteAction,
  RouteCacheOptions,
  RouteCriteria,
} from '@flotilla/manifest';
export { assetUrl } from './assets.ts';
export {
  CustomCacheKey,
  type KeyPartition,
  type KeyPartitions,
  type PartitionCreator,
} from './cache-key.ts';
export { normalizePrefix, requestPrefix } from './path-prefix.ts';
export type { ParsedRequestUrl } from './request-url.ts';
export { parseQuery, parseRequestUrl } from './request-url.ts';
export {
  BackendError,
  InvalidRouteError,
  isNotFound,
  NotFoundError,
  notFound,
  RouterBuildError,
  RouterError,
} from './router/errors.ts';
export type { DocumentParts, PageOptions } from './router/page.ts';
export { DESCRIBE_ROUTES, Router } from './router/router.ts';
export type {
  BackendClient,
  CacheOptions,
  CriteriaValue,
  MatchCriteria,
  PassRequestFactsOptions,
  PrerenderRequest,
  PrerenderSource,
  ProxyOptions,
  RedirectOptions,
  RenderContext,
  RenderFn,
  ResponseWriter,
  RouteCriteriaInput,
  RouteHandler,
  ServeStaticOptions,
} from './router/types.ts';
export type { BundleFramework, FetchHandler, Manifest, ManifestRoute } from './types.ts';
