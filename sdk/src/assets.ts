/**
 * URLs of the build's static assets.
 *
 * @module
 */

/**
 * Source path → hashed URL path of every static asset, injected by the
 * build with esbuild's `define`. Absent outside a build (tests, dev tools).
 */
declare const __FLOTILLA_ASSETS__: Record<string, string> | undefined;

/**
 * The URL path a static asset is served at in this build: its
 * content-hashed name (`/assets/app.css` → `/assets/app.3f2a1b9c.css`),
 * which browsers may cache forever. Paths the build does not know, and
 * every path outside a build, come back unchanged.
 *
 * @param path - The asset's path as in the app's public directory, e.g.
 * `/assets/app.css` (a missing leading `/` is tolerated).
 * @example
 * <link rel="stylesheet" href={assetUrl('/assets/app.css')} />
 */
export function assetUrl(path: string): string {
  if (typeof __FLOTILLA_ASSETS__ === 'undefined' || __FLOTILLA_ASSETS__ === null) return path;
  const assets = __FLOTILLA_ASSETS__;
  const withSlash = path.startsWith('/') ? path : `/${path}`;
  for (const candidate of [path, withSlash, withSlash.slice(1)]) {
    if (Object.hasOwn(assets, candidate)) return assets[candidate] as string;
  }
  return path;
}
