/**
 * What a Router's routes declare, found at build time: each handler run
 * twice with synthetic requests, the two runs compared, the result a
 * manifest route.
 *
 * @module
 */
import { compilePattern, type ManifestRoute, type RouteCriteria } from '@flotilla/manifest';
import { InvalidRouteError, RouterBuildError } from './errors.ts';
import { describeStatic } from './static-catch.ts';
import type { RouteHandler } from './types.ts';
import { createWriter, type Recording } from './writer.ts';

/** A route as the Router keeps it. */
export interface RouteEntry {
  criteria: RouteCriteria;
  handler: RouteHandler;
  fallback: boolean;
  /** `catch()`: the status pattern it answers. */
  catchPattern?: string;
  /** `static()`: the directory whose files it serves. */
  staticDir?: string;
  /** The destination router it came from (`destination(name, router)`). */
  destination?: string;
}

/** A route described: its manifest route, label and first recording. */
export interface CompiledRoute {
  spec: ManifestRoute;
  label: string;
  recording: Recording;
}

/** `GET /p/:id (route 3)`, `ANY /x (route 4)`, `fallback (route 7)`. */
function labelOf(entry: RouteEntry, id: number): string {
  if (entry.destination !== undefined) {
    const { destination, ...rest } = entry;
    return `${labelOf(rest, id)} of destination ${destination}`;
  }
  if (entry.fallback) return `fallback (route ${id})`;
  if (entry.catchPattern !== undefined) return `catch /${entry.catchPattern}/ (route ${id})`;
  if (entry.staticDir !== undefined) return `static ${entry.staticDir} (route ${id})`;
  const methods = entry.criteria.method ? entry.criteria.method.join(',') : 'ANY';
  return `${methods} ${entry.criteria.path} (route ${id})`;
}

/** Runs the handler of `entry` twice and describes it as route `id`. */
export function describeEntry(entry: RouteEntry, id: number): CompiledRoute {
  const label = labelOf(entry, id);
  if (entry.staticDir !== undefined) {
    return {
      spec: describeStatic(id, entry.staticDir),
      label,
      recording: createWriter([], new Request('https://static.invalid/'), {}).recording,
    };
  }
  const pattern = compilePattern(entry.criteria.path);
  const runs = (['a', 'b'] as const).map((variant) => {
    const { request, params } = syntheticRequest(entry.criteria, pattern, variant);
    const run = createWriter(pattern.params, request, params);
    let result: unknown;
    try {
      result = entry.handler(run.writer);
    } catch (err) {
      throw new RouterBuildError(
        label,
        id,
        err instanceof InvalidRouteError ? err.message : `the handler threw: ${messageOf(err)}`,
        { cause: err },
      );
    } finally {
      run.seal();
    }
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      // Its later calls throw (sealed); keep that rejection from going unhandled.
      (result as Promise<unknown>).then(undefined, () => {});
      throw new RouterBuildError(
        label,
        id,
        'the handler returned a Promise: handlers declare synchronously (cache(), render(), proxy(), …); ' +
          'put async work in the function given to render()',
      );
    }
    return run.recording;
  });
  const [a, b] = runs as [Recording, Recording];
  const parts: Array<[string, (r: Recording) => unknown]> = [
    ['the action must be static', (r) => r.action],
    ['cache options must be static', (r) => r.cache ?? null],
    ['header changes must be static', (r) => r.headerOps],
    ['passRequestFacts() must be static', (r) => r.requestFacts ?? null],
    ['the body, status and headers of send() must be static', (r) => r.send ?? null],
    [
      'transformResponse must be given in every run or none',
      (r) => r.transformResponse !== undefined,
    ],
    [
      'transformRequest and a path function must be given in every run or none',
      (r) => [r.transformRequest !== undefined, r.proxyPath !== undefined],
    ],
  ];
  for (const [problem, get] of parts) {
    const x = JSON.stringify(get(a));
    const y = JSON.stringify(get(b));
    if (x !== y) {
      throw new RouterBuildError(
        label,
        id,
        `${problem}, but the two build-time runs of the handler (with different synthetic requests) declared ${x} and ${y}`,
      );
    }
  }
  const spec: ManifestRoute = {
    id,
    criteria: structuredClone(entry.criteria),
    fallback: entry.fallback,
    action: a.action,
    ...(a.cache ? { cache: a.cache } : {}),
    headerOps: a.headerOps,
    ...(entry.catchPattern !== undefined ? { catch: { regex: entry.catchPattern } } : {}),
    ...(entry.destination !== undefined ? { destination: entry.destination } : {}),
    ...(a.requestFacts ? { requestFacts: a.requestFacts } : {}),
  };
  if (entry.catchPattern !== undefined && a.action.kind === 'headers') {
    throw new RouterBuildError(
      label,
      id,
      'a catch handler must answer: serveStatic(file, { statusCode }), send(), render() or compute()',
    );
  }
  return { spec, label, recording: a };
}

/** A request that meets the criteria, different for the two variants. */
function syntheticRequest(
  criteria: RouteCriteria,
  pattern: ReturnType<typeof compilePattern>,
  variant: 'a' | 'b',
): { request: Request; params: Record<string, string> } {
  const params: Record<string, string> = {};
  for (const p of pattern.params) params[p.name] = `flotilla-synthetic-${variant}`;
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(criteria.query ?? {})) {
    query.append(name, typeof value === 'string' ? value : variant);
  }
  query.append('flotilla-synthetic', variant);
  const headers = new Headers({
    'x-flotilla-synthetic': variant,
    'user-agent': variant === 'a' ? 'Flotilla-Build/a (desktop)' : 'Flotilla-Build/b (mobile)',
    'accept-language': variant === 'a' ? 'en' : 'fr',
  });
  for (const [name, value] of Object.entries(criteria.headers ?? {})) {
    headers.set(name, typeof value === 'string' ? value : variant);
  }
  const cookies = [`flotilla-synthetic=${variant}`];
  for (const [name, value] of Object.entries(criteria.cookies ?? {})) {
    cookies.push(`${name}=${typeof value === 'string' ? value : variant}`);
  }
  headers.set('cookie', cookies.join('; '));
  const host =
    criteria.host?.[variant === 'a' ? 0 : criteria.host.length - 1] ??
    `synthetic-${variant}.flotilla.invalid`;
  const methods = criteria.method ?? (['GET', 'POST'] as const);
  const method = (variant === 'a' ? methods[0] : methods[methods.length - 1]) ?? 'GET';
  const request = new Request(`https://${host}${pattern.toPath(params)}?${query}`, {
    method,
    headers,
  });
  return { request, params };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
