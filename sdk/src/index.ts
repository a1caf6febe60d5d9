/**
 * `@flotilla/sdk`: what app developers import.
 *
 * Code that runs inside a bundle should import from the narrow entry points
 * (`@flotilla/sdk/request-url`) so that the Node-only build tooling exported
 * here never lands in a bundle.
 *
 * @module
 */
export type { BuildAppOptions, BuildAppResult } from './build.ts';
export { buildApp, DEFAULT_MAX_BUNDLE_BYTES } from './build.ts';
export type { ParsedRequestUrl } from './request-url.ts';
export { parseQuery, parseRequestUrl } from './request-url.ts';
export type { BundleFramework, BundleManifest, FetchHandler, ManifestRoute } from './types.ts';
