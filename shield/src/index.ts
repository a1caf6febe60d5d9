export { PurgeResponder, type PurgeResponderOptions } from './cache/purge-responder.ts';
export { ShieldError } from './errors.ts';
export { type AppRoute, matchRoute, type RouteMatch } from './routes.ts';
export { Shield, type ShieldOptions } from './shield.ts';
export {
  environmentHost,
  SiteDirectory,
  type SiteDirectoryOptions,
  type SiteEnvironment,
  type SiteSource,
  type SiteTarget,
} from './site-directory.ts';
