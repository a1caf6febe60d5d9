/**
 * Where a build directory keeps the bytes of each asset: `assets/` plus the
 * asset's URL path (`/styles.css` → `assets/styles.css`), and the root page
 * (`/`, a framework's prerendered home page) as `assets/#root`: `/` names
 * the directory itself, and `#` never occurs in an asset path, so the name
 * cannot collide with another asset's file.
 *
 * @module
 */

/** The name the root page (`/`) is kept under in `assets/`. */
export const ROOT_ASSET_FILE = '#root';

/**
 * The path segments, under the build directory's `assets/`, of the file
 * holding the asset served at `path`.
 *
 * @example assetFileSegments('/css/app.css') // ['css', 'app.css']
 * @example assetFileSegments('/') // ['#root']
 */
export function assetFileSegments(path: string): string[] {
  const segments = path.split('/').filter((segment) => segment !== '');
  return segments.length === 0 ? [ROOT_ASSET_FILE] : segments;
}
