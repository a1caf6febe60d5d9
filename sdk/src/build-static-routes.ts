/**
 * The routes step's file checks: `router.static(dir)` must name the app's
 * static directory, and `serveStatic(file)` / `serviceWorker(file)` must
 * name one of its files, whose URL path the build writes into the route
 * (the shield serves it without running code).
 *
 * Node-only.
 *
 * @module
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { ManifestAsset, ManifestRoute } from '@flotilla/manifest';
import { buildFailure } from './build-errors.ts';

/** Where the files are. */
export interface StaticRoutesContext {
  /** The project root: route paths are relative to it. */
  root: string;
  /** The static directory, absolute; undefined when the app has none. */
  staticDir: string | undefined;
  assets: readonly ManifestAsset[];
}

function labelOf(route: ManifestRoute): string {
  if (route.catch) return `catch /${route.catch.regex}/ (route ${route.id})`;
  if (route.action.kind === 'static' && route.action.filesOnly) {
    return `static ${route.action.dir} (route ${route.id})`;
  }
  const methods = route.criteria.method ? route.criteria.method.join(',') : 'ANY';
  return `${methods} ${route.criteria.path} (route ${route.id})`;
}

/** `file` as a path under `dir` (posix), or undefined when it is outside. */
function inside(dir: string, file: string): string | undefined {
  const rel = relative(dir, file);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

/**
 * Checks the static routes and fills in the URL path of each `asset` route.
 *
 * @throws BuildError naming the route and the API when a directory or file is not the build's.
 */
export function resolveStaticRoutes(
  app: string,
  routes: ManifestRoute[],
  ctx: StaticRoutesContext,
): ManifestRoute[] {
  const { root, staticDir } = ctx;
  const shown = staticDir ? JSON.stringify(relative(root, staticDir) || '.') : undefined;
  return routes.map((route) => {
    const action = route.action;
    if (action.kind === 'static' && action.filesOnly) {
      if (resolve(root, action.dir) !== staticDir) {
        throw buildFailure(
          app,
          `route ${labelOf(route)}: router.static(${JSON.stringify(action.dir)}) serves the files of the app's ` +
            `static directory at the root, and ${
              shown ? `that is ${shown}` : 'the app has none'
            }: set "static": ${JSON.stringify(action.dir)} in flotilla.config.json`,
        );
      }
      return route;
    }
    if (action.kind !== 'asset') return route;
    const api = action.serviceWorker ? 'serviceWorker' : 'serveStatic';
    const call = `${api}(${JSON.stringify(action.file)})`;
    if (!staticDir) {
      throw buildFailure(
        app,
        `route ${labelOf(route)}: ${call} serves a file of the build's static directory, and the app has none: set "static" in flotilla.config.json`,
      );
    }
    // Relative to the project root (EdgeJS), or else to the static directory.
    const rel =
      inside(staticDir, resolve(root, action.file)) ??
      inside(staticDir, resolve(staticDir, action.file));
    const path = rel === undefined ? undefined : `/${rel}`;
    if (path === undefined || !ctx.assets.some((a) => a.path === path)) {
      throw buildFailure(
        app,
        `route ${labelOf(route)}: ${call} names no file of the static directory ${shown} ` +
          '(the shield serves these files; give the path relative to the project or to the static directory)',
      );
    }
    return { ...route, action: { ...action, path } };
  });
}
