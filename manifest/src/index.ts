/**
 * `@flotilla/manifest`: the deployment manifest format, and the logic the
 * shield and the bundle share (route matching, cache keys). Bundle-safe: it
 * imports nothing and uses only ES built-ins.
 *
 * @module
 */
export {
  type CacheKeyExtras,
  computeCacheKey,
  DEFAULT_CACHE_KEY_SPEC,
  type KeyEncoding,
  normalizeAcceptEncoding,
} from './cache-key.ts';
export { ManifestError, type ManifestErrorOptions } from './errors.ts';
export { matchCriteria, matchRoutes, mergeCacheOptions, normalizeHost } from './match.ts';
export {
  type CompiledPattern,
  compilePattern,
  interpolatePath,
  type ParamModifier,
  type PatternParam,
} from './pattern.ts';
export { normalizeQuery, parseCookies, parseQueryPairs } from './query.ts';
export type {
  BrowserCacheOptions,
  BundleFramework,
  CacheKeySpec,
  EdgeCacheOptions,
  HeaderOp,
  HttpMethod,
  Manifest,
  ManifestAsset,
  ManifestLimits,
  ManifestRoute,
  MatchRequest,
  RouteAction,
  RouteCacheOptions,
  RouteCriteria,
  RouteDecision,
} from './types.ts';
export {
  HTTP_METHODS,
  MANIFEST_LIMIT_KEYS,
  REDIRECT_STATUS_CODES,
  validateCacheKeySpec,
  validateCacheOptions,
  validateManifest,
  validateManifestLimits,
  validateRoute,
  validateRouteCriteria,
} from './validate.ts';
