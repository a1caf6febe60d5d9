/**
 * The prerender step of `flotilla build`: the paths of the manifest's
 * `prerender` list, from `prerenderRequests` of `flotilla.config.json` and
 * the Router's `prerender()` calls (their functions run here, where `fetch`
 * is not available).
 *
 * Node-only.
 *
 * @module
 */
import { type ManifestRoute, matchRoutes } from '@flotilla/manifest';
import { MAX_PRERENDER_PATHS, PrerenderPathSchema } from '@flotilla/protocol';
import { describeValue } from '@flotilla/protocol/patterns';
import * as v from 'valibot';
import type { BuildProgress } from './build.ts';
import { buildFailure } from './build-errors.ts';
import { evaluateBundle } from './build-routes.ts';
import { DESCRIBE_PRERENDER } from './router/router.ts';

/** Options of {@link describePrerender}. */
export interface DescribePrerenderOptions {
  /** App name, for error messages. */
  app: string;
  /** The bytes of `bundle.js`. */
  code: Uint8Array;
  /** `prerenderRequests` of `flotilla.config.json`. @default none */
  configured?: ReadonlyArray<{ path: string }> | undefined;
  /** The described routes: a path whose route does not cache at the edge gets a warning. */
  routes: readonly ManifestRoute[];
  /** Where the count of paths and the warnings go. */
  progress: (progress: BuildProgress) => void;
}

/**
 * The paths to prerender, config first, each once; `undefined` for none.
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` naming `router.prerender()` when its
 * function fails or it lists something that is not `{ path }` with a usable
 * path, or when there are more than {@link MAX_PRERENDER_PATHS} paths.
 */
export async function describePrerender(
  options: DescribePrerenderOptions,
): Promise<string[] | undefined> {
  const { app, code, configured = [] } = options;
  const paths = configured.map((r) => r.path);
  const handler = evaluateBundle(app, new TextDecoder().decode(code));
  const describe = (handler as Record<symbol, unknown> | null)?.[DESCRIBE_PRERENDER];
  if (typeof describe === 'function') {
    let listed: unknown[];
    try {
      listed = await (describe.call(handler) as Promise<unknown[]>);
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      throw buildFailure(
        app,
        `router.prerender(): ${message.replace(/^prerender\(\): /, '')}` +
          (/fetch/.test(message)
            ? ' (a prerender function runs at build, without fetch: list the paths, or put them in prerenderRequests of flotilla.config.json)'
            : ''),
        error,
      );
    }
    for (const [i, request] of listed.entries()) {
      const path = (request as { path?: unknown } | null)?.path;
      const extra = Object.keys((request as object | null) ?? {}).filter((k) => k !== 'path');
      const shape =
        typeof request !== 'object' || request === null
          ? `must be { path } (got ${describeValue(request)})`
          : extra.length > 0
            ? `has ${extra.join(', ')}, which Flotilla does not support (only path: the shield prerenders a plain GET)`
            : undefined;
      const pathProblem =
        shape === undefined
          ? v.safeParse(PrerenderPathSchema, path).issues?.[0]?.message
          : undefined;
      if (shape !== undefined || pathProblem !== undefined) {
        throw buildFailure(
          app,
          `router.prerender(): request ${i} ${shape ?? `path ${pathProblem} (got ${describeValue(path)})`}`,
        );
      }
      paths.push(path as string);
    }
  }
  const unique = [...new Set(paths)];
  if (unique.length > MAX_PRERENDER_PATHS) {
    throw buildFailure(
      app,
      `router.prerender(): ${unique.length} paths, more than the ${MAX_PRERENDER_PATHS} a deployment may prerender`,
    );
  }
  if (unique.length === 0) return undefined;
  options.progress({ phase: 'routes', detail: `${unique.length} path(s) to prerender` });
  for (const path of unique) {
    const problem = uncachedProblem(options.routes, path);
    if (problem)
      options.progress({ phase: 'routes', detail: `warning: prerender ${path}: ${problem}` });
  }
  return unique;
}

/**
 * Why the shield may not store a plain `GET path` (its route declares no
 * edge caching, or none matches), or `undefined` when its route caches. The
 * response may still say `s-maxage`: a warning, the promote reports the outcome.
 */
function uncachedProblem(routes: readonly ManifestRoute[], path: string): string | undefined {
  const at = path.indexOf('?');
  const decision = matchRoutes(routes, {
    method: 'GET',
    host: 'prerender.flotilla.invalid',
    path: at === -1 ? path : path.slice(0, at),
    query: at === -1 ? '' : path.slice(at + 1),
    headers: {},
  });
  const terminal = decision.terminal;
  if (terminal === undefined)
    return 'no route matches it (the bundle answers 404, which is not stored)';
  const edge = decision.cache?.edge;
  if (edge === false || !edge?.maxAgeSeconds) {
    const label = `${terminal.fallback ? 'fallback' : (terminal.criteria.method?.join(',') ?? 'ANY')} ${terminal.criteria.path} (route ${terminal.id})`;
    return `route ${label} declares no edge maxAgeSeconds: the shield stores it only if the response says s-maxage or max-age`;
  }
  return undefined;
}
