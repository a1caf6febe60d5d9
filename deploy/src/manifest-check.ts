import { type Manifest, ManifestError, validateManifest } from '@flotilla/manifest';
import { DeployError } from './errors.ts';

/**
 * Manifest checks of the control plane, on top of `validateManifest`.
 *
 * @module
 */

/**
 * True when `path` is a safe asset URL path: absolute, no empty, `.` or `..`
 * segment, no backslash, control character, `?` or `#`.
 */
export function isSafeAssetPath(path: string): boolean {
  if (!path.startsWith('/') || path.length > 1024) return false;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused.
  if (/[\\?#\u0000-\u001f\u007f]/.test(path)) return false;
  return path
    .slice(1)
    .split('/')
    .every((s) => s !== '' && s !== '.' && s !== '..');
}

/**
 * The normalized origin of a backend, or `undefined` when `origin` is not an
 * absolute http(s) origin (scheme, host, port; no path, query, credentials).
 */
export function normalizeOrigin(origin: unknown): string | undefined {
  if (typeof origin !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[?#]/.test(origin)) {
    return undefined;
  }
  return url.origin;
}

/**
 * Checks that `json` is a version-2 manifest the control plane can publish:
 * `validateManifest` of `@flotilla/manifest`, plus asset paths that map
 * safely onto files of the build directory.
 *
 * @param source names the manifest in error messages (e.g. its path)
 * @throws DeployError `FLOTILLA_ERR_BUNDLE` naming the bad field
 */
export function checkManifest(json: unknown, source: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = validateManifest(json);
  } catch (err) {
    if (err instanceof ManifestError) {
      throw new DeployError('FLOTILLA_ERR_BUNDLE', `${source}: ${err.message}`, { cause: err });
    }
    throw err;
  }
  manifest.assets.forEach((asset, i) => {
    if (!isSafeAssetPath(asset.path)) {
      throw new DeployError(
        'FLOTILLA_ERR_BUNDLE',
        `${source}: "assets[${i}].path" must be an absolute URL path without empty, "." or ".." segments, got ${JSON.stringify(asset.path)}`,
      );
    }
  });
  return manifest;
}
