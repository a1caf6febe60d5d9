/**
 * `router.static(dir)` and `router.catch(status, handler)`: their checks
 * and the manifest route of `static()`.
 *
 * @module
 */
import { catchPatternOf, type ManifestRoute, type RouteCriteria } from '@flotilla/manifest';
import { describeValue } from '@flotilla/protocol/patterns';
import { InvalidRouteError } from './errors.ts';

/** The criteria of a `static()` route: every GET and HEAD (only files answer). */
export const STATIC_CRITERIA: RouteCriteria = { path: '/:path*', method: ['GET', 'HEAD'] };

/** The criteria of a `catch()` route (it is never matched by a request). */
export const CATCH_CRITERIA: RouteCriteria = { path: '/:path*' };

/**
 * Checks `static(dir, options)`; returns `dir` without `./` or a trailing `/`.
 *
 * @throws InvalidRouteError for a bad directory or any options.
 */
export function staticDirOf(dir: unknown, options: unknown): string {
  if (typeof dir !== 'string' || dir === '' || dir.split(/[\\/]/).includes('..')) {
    throw new InvalidRouteError(
      `static(): needs the static directory, e.g. "public" (got ${describeValue(dir)})`,
    );
  }
  if (options !== undefined) {
    throw new InvalidRouteError(
      `static(${JSON.stringify(dir)}): options are not supported; add routes with serveStatic() for other behaviour`,
    );
  }
  return dir.replace(/^(\.\/)+|\/+$/g, '') || '.';
}

/**
 * The status pattern of `catch(status)`.
 *
 * @throws InvalidRouteError when `status` is neither an integer nor a RegExp, or matches a status below 400.
 */
export function catchPatternFor(status: unknown): string {
  const pattern = catchPatternOf(status);
  const call = `catch(${String(status)})`;
  if (pattern === undefined) {
    throw new InvalidRouteError(
      `${call}: needs a status (404) or a RegExp of statuses (/5\\d{2}/) (got ${describeValue(status)})`,
    );
  }
  const re = new RegExp(pattern);
  for (let n = 100; n < 400; n++) {
    if (re.test(String(n))) {
      throw new InvalidRouteError(
        `${call}: catches error statuses (400-599) only, but it matches ${n}`,
      );
    }
  }
  return pattern;
}

/** The manifest route of `static(dir)`: a files-only static route. */
export function describeStatic(id: number, dir: string): ManifestRoute {
  return {
    id,
    criteria: structuredClone(STATIC_CRITERIA),
    fallback: false,
    action: { kind: 'static', dir, permanent: false, filesOnly: true },
    headerOps: [],
  };
}
