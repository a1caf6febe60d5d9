import { type Manifest, ManifestError, validateManifest } from '@flotilla/manifest';
import { FlotillaError } from '@flotilla/protocol';

/**
 * Manifest checks of the control plane, on top of `validateManifest`.
 *
 * @module
 */

/**
 * True when `path` is a safe asset URL path: absolute, no empty, `.` or `..`
 * segment, no backslash, control character, `?` or `#`; or `/` itself (the
 * root page, a prerendered home page).
 */
export function isSafeAssetPath(path: string): boolean {
  if (!path.startsWith('/') || path.length > 1024) return false;
  // The root page (a prerendered home page), kept as assets/#root (assetFileSegments).
  if (path === '/') return true;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused.
  if (/[\\?#\u0000-\u001f\u007f]/.test(path)) return false;
  return path
    .slice(1)
    .split('/')
    .every((s) => s !== '' && s !== '.' && s !== '..');
}

/**
 * Checks that `json` is a version-2 manifest the control plane can publish:
 * `validateManifest` of `@flotilla/manifest`, plus asset paths that map
 * safely onto files of the build directory.
 *
 * @param source names the manifest in error messages (e.g. its path)
 * @throws FlotillaError `FLOTILLA_ERR_BUNDLE` naming the bad field
 */
export function checkManifest(json: unknown, source: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = validateManifest(json);
  } catch (err) {
    if (err instanceof ManifestError) {
      throw new FlotillaError('FLOTILLA_ERR_BUNDLE', `${source}: ${err.message}`, { cause: err });
    }
    throw err;
  }
  manifest.assets.forEach((asset, i) => {
    if (!isSafeAssetPath(asset.path)) {
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `${source}: "assets[${i}].path" must be an absolute URL path without empty, "." or ".." segments, got ${JSON.stringify(asset.path)}`,
      );
    }
  });
  return manifest;
}
