/**
 * A fetch-style request handler: what an app bundle hands to `Flotilla.serve`.
 *
 * Either a plain function or an object with a `fetch` method (the
 * Workers-style module shape). Both receive a web-standard `Request` and
 * return a `Response`, synchronously or as a promise.
 */
export type FetchHandler =
  | ((request: Request) => Response | Promise<Response>)
  | { fetch(request: Request): Response | Promise<Response> };

/** One route an app declares in its manifest (method and path pattern such as `/p/:id`). */
export interface ManifestRoute {
  /** HTTP method, upper case (`GET`, `POST`, …). */
  method: string;
  /** Path pattern, e.g. `/`, `/p/:id`. */
  path: string;
}

/** Frameworks a bundle can declare. `none` is a plain fetch handler. */
export type BundleFramework = 'react' | 'vue' | 'none';

/**
 * `manifest.json`, written next to `bundle.js` by {@link buildApp}.
 *
 * Version 1 is minimal; later versions add cache options and cache-key specs
 * per route.
 */
export interface BundleManifest {
  /** Format version of this manifest. */
  manifestVersion: 1;
  /** App name. */
  name: string;
  /** Framework the app renders with. */
  framework: BundleFramework;
  /** Lower-case hex sha256 of the exact bytes of `bundle.js`. */
  bundleHash: string;
  /** Size of `bundle.js` in bytes. */
  bundleBytes: number;
  /** When the bundle was built, ISO 8601. */
  builtAt: string;
  /** Routes the app declares. */
  routes: ManifestRoute[];
  /** Named backends (name → origin) the app may fetch from. Empty for now. */
  backends: Record<string, string>;
}
