/**
 * Types shared by the SDK's entry points.
 *
 * @module
 */
export type { BundleFramework, Manifest, ManifestRoute } from '@flotilla/manifest';

/**
 * A fetch-style request handler: what an app bundle hands to `Flotilla.serve`.
 *
 * Either a plain function or an object with a `fetch` method (the
 * Workers-style module shape; a `Router` is one). Both receive a
 * web-standard `Request` and return a `Response`, synchronously or as a
 * promise.
 */
export type FetchHandler =
  | ((request: Request) => Response | Promise<Response>)
  | { fetch(request: Request): Response | Promise<Response> };
