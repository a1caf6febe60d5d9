/**
 * `@flotilla/manifest`: the deployment manifest format, and the logic the
 * shield and the bundle share (route matching, cache keys). Bundle-safe: it
 * imports only `@flotilla/protocol` and valibot, and uses only ES built-ins.
 *
 * @module
 */
export { assetFileSegments, ROOT_ASSET_FILE } from './asset-file.ts';
export {
  computeCacheKey,
  DEFAULT_CACHE_KEY_SPEC,
  normalizeAcceptEncoding,
  partitionOf,
} from './cache-key.ts';
export { type CriteriaReads, criteriaReads, withCriteriaReads } from './criteria-reads.ts';
export { DESTINATION_HEADER, routeDestinations, routesForDestination } from './destination.ts';
export { ManifestError, type ManifestErrorOptions } from './errors.ts';
export { catchPatternOf, catchRouteFor } from './handler-rules.ts';
export {
  applyCors,
  applyHelperResponseRule,
  applyRequestRules,
  applyResponseRules,
  applyUpstreamRules,
  type HeaderBag,
  hasOps,
  interpolateHeader,
  REQUEST_OPS,
  RESPONSE_OPS,
  replaceHeader,
  UPSTREAM_OPS,
} from './header-rules.ts';
export { matchRoutes, mergeCacheOptions } from './match.ts';
export { compilePattern, interpolatePath, type PatternParam } from './pattern.ts';
export { prewarmPath } from './prewarm-path.ts';
export { normalizeQuery, parseCookies, splitQuery } from './query.ts';
export {
  exactRegex,
  isRegexSpec,
  REGEX_FLAGS,
  type RegexSpec,
  regexProblem,
  regexSpecOf,
} from './regex.ts';
export {
  APP_NAME_PROBLEM,
  type BrowserCacheOptions,
  BUNDLE_FRAMEWORKS,
  type BundleFramework,
  type CacheKeySpec,
  type EdgeCacheOptions,
  HEADER_REGEX_FLAGS,
  type HeaderOp,
  HTTP_METHODS,
  type HttpMethod,
  MANIFEST_LIMIT_KEYS,
  type Manifest,
  type ManifestAsset,
  type ManifestLimits,
  ManifestLimitsSchema,
  type ManifestRoute,
  type MatchRequest,
  REDIRECT_STATUS_CODES,
  type RequestFacts,
  type RouteAction,
  type RouteCacheOptions,
  type RouteCriteria,
  type RouteDecision,
} from './types.ts';
export {
  validateCacheOptions,
  validateManifest,
  validateRoute,
  validateRouteCriteria,
} from './validate.ts';
