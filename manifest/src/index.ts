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
export type {
  BrowserCacheOptions,
  CacheKeySpec,
  EdgeCacheOptions,
  RouteCacheOptions,
} from './cache-options-schema.ts';
export { type CriteriaReads, criteriaReads, withCriteriaReads } from './criteria-reads.ts';
export type { RouteCriteria } from './criteria-schema.ts';
export { DESTINATION_HEADER, routeDestinations, routesForDestination } from './destination.ts';
export { ManifestError, type ManifestErrorOptions } from './errors.ts';
export { catchPatternOf, catchRouteFor } from './handler-rules.ts';
export type { HeaderOp } from './header-op-schema.ts';
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
export { MAX_PREWARM_PATHS, prewarmPath, prewarmPaths } from './prewarm-path.ts';
export { normalizeQuery, parseCookies, splitQuery } from './query.ts';
export {
  exactRegex,
  HEADER_REGEX_FLAGS,
  isRegexSpec,
  REGEX_FLAGS,
  type RegexSpec,
  regexProblem,
  regexSpecOf,
} from './regex.ts';
export {
  type ManifestRoute,
  REDIRECT_STATUS_CODES,
  type RequestFacts,
  type RouteAction,
} from './route-schema.ts';
export { HTTP_METHODS, type HttpMethod } from './schema-fields.ts';
export {
  APP_NAME_PROBLEM,
  BUNDLE_FRAMEWORKS,
  type BundleFramework,
  MANIFEST_LIMIT_KEYS,
  type Manifest,
  type ManifestAsset,
  type ManifestLimits,
  ManifestLimitsSchema,
  type MatchRequest,
  type RouteDecision,
} from './types.ts';
export {
  validateCacheOptions,
  validateManifest,
  validateRoute,
  validateRouteCriteria,
} from './validate.ts';
