/**
 * `@flotilla/shield`: the L2 HTTP gateway in front of the regions, the map
 * of the control plane's sites it routes by, and the purge over NATS.
 *
 * @module
 */
export type { FleetPurge, FleetPurgeResult } from './admin-api.ts';
export { EdgeCache, type EdgeCacheOptions } from './cache/edge-cache.ts';
export { PurgeResponder, type PurgeResponderOptions } from './cache/purge-responder.ts';
export type { EdgeRoutesOptions } from './edge-routes.ts';
export {
  type RedirectSource,
  type RedirectTableRef,
  RedirectTables,
  type RedirectTablesOptions,
} from './redirect-tables.ts';
export { Shield } from './shield.ts';
export type { ShieldOptions } from './shield-options.ts';
export { SiteDirectory, type SiteDirectoryOptions, type SiteSource } from './site-directory.ts';
