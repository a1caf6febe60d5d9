/**
 * `router.catch()` as data: which catch route answers a status. The shield
 * (static error pages, also for its own errors) and the bundle (catch
 * handlers that run code) pick the same one.
 *
 * @module
 */
import { compileRegex } from './regex.ts';
import type { ManifestRoute } from './route-schema.ts';

/**
 * The `catch.regex` of `router.catch(status)`: a number is that status
 * exactly, a RegExp (`/5\d{2}/`) its source.
 *
 * @returns undefined when `status` is neither.
 */
export function catchPatternOf(status: unknown): string | undefined {
  if (typeof status === 'number' && Number.isInteger(status)) return `^${status}$`;
  if (Object.prototype.toString.call(status) === '[object RegExp]') {
    return (status as RegExp).source;
  }
  return undefined;
}

/** The first catch route (in declaration order) whose pattern matches `status`. */
export function catchRouteFor(
  routes: readonly ManifestRoute[],
  status: number,
): ManifestRoute | undefined {
  if (status < 400) return undefined;
  const text = String(status);
  return routes.find((r) => r.catch !== undefined && compileRegex(r.catch).test(text));
}
