/**
 * Validation of `manifest.json` and of its parts (route criteria, cache
 * options, cache-key specs, limits) against the schemas of `types.ts`, with
 * errors naming the bad field, plus the checks that span fields.
 *
 * @module
 */
import { describeValue } from '@flotilla/protocol/patterns';
import { type AnySchema, parseOrThrow } from '@flotilla/protocol/schema';
import type * as v from 'valibot';
import { ManifestError } from './errors.ts';
import {
  type CacheKeySpec,
  CacheKeySpecSchema,
  type Manifest,
  type ManifestLimits,
  ManifestLimitsSchema,
  type ManifestRoute,
  ManifestRouteSchema,
  ManifestSchema,
  type RouteCacheOptions,
  RouteCacheOptionsSchema,
  type RouteCriteria,
  RouteCriteriaSchema,
} from './types.ts';

function check<S extends AnySchema>(
  schema: S,
  value: unknown,
  field: string,
  context: string | undefined,
): v.InferOutput<S> {
  return parseOrThrow(
    schema,
    value,
    field,
    (f, problem) => new ManifestError(f, problem, context === undefined ? {} : { context }),
  );
}

/**
 * Validates route criteria and returns a normalised copy (methods upper
 * case, hosts and header names lower case).
 *
 * @param value - The criteria, e.g. `{ path: '/p/:id', method: ['GET'] }`.
 * @param field - Names the criteria in messages. @default 'criteria'
 * @param context - Put before the field in messages (e.g. `manifest`).
 * @throws ManifestError naming the bad field.
 */
export function validateRouteCriteria(
  value: unknown,
  field = 'criteria',
  context?: string,
): RouteCriteria {
  return check(RouteCriteriaSchema, value, field, context);
}

/**
 * Validates a cache-key spec and returns a copy (header names lower case).
 *
 * @param value - The spec.
 * @param field - Names it in messages. @default 'key'
 * @param context - Put before the field in messages.
 * @throws ManifestError naming the bad field.
 */
export function validateCacheKeySpec(
  value: unknown,
  field = 'key',
  context?: string,
): CacheKeySpec {
  return check(CacheKeySpecSchema, value, field, context);
}

/**
 * Validates cache options (as `cache({...})` takes them, with `key` already
 * a {@link CacheKeySpec}) and returns a copy. Every number is a
 * non-negative integer of seconds; unknown fields are refused by name.
 *
 * @param value - The options.
 * @param field - Names them in messages. @default 'cache'
 * @param context - Put before the field in messages.
 * @throws ManifestError naming the bad field, e.g. `cache.edge.maxAgeSeconds`.
 * @example
 * validateCacheOptions({ edge: { maxAgeSeconds: 60 } }); // ok
 * validateCacheOptions({ edge: { maxAge: 60 } });
 * // ManifestError: cache.edge.maxAge is not a known field (known: maxAgeSeconds, …)
 */
export function validateCacheOptions(
  value: unknown,
  field = 'cache',
  context?: string,
): RouteCacheOptions {
  return check(RouteCacheOptionsSchema, value, field, context);
}

/**
 * Validates one route. `id` must equal `index`.
 *
 * @param backends - The manifest's backends; a proxy route must name one of
 * them. Absent: not checked.
 */
export function validateRoute(
  value: unknown,
  index: number,
  field = `routes[${index}]`,
  context?: string,
  backends?: Record<string, string>,
): ManifestRoute {
  const route = check(ManifestRouteSchema, value, field, context);
  checkRoute(route, index, field, context, backends);
  return route;
}

/** The checks of a route that span fields: its id is its index, a proxy names a declared backend. */
function checkRoute(
  route: ManifestRoute,
  index: number,
  field: string,
  context: string | undefined,
  backends: Record<string, string> | undefined,
): void {
  const fail = (f: string, problem: string) =>
    new ManifestError(`${field}.${f}`, problem, context === undefined ? {} : { context });
  if (route.id !== index) {
    throw fail('id', `must be ${index}, the route's index (got ${describeValue(route.id)})`);
  }
  if (route.action.kind === 'proxy' && backends && !Object.hasOwn(backends, route.action.backend)) {
    const declared = Object.keys(backends);
    throw fail(
      'action.backend',
      `names no declared backend (got ${describeValue(route.action.backend)}; declared: ${declared.length ? declared.join(', ') : 'none'})`,
    );
  }
}

/**
 * Validates the sandbox limits a deployment asks for and returns a copy
 * (keys in {@link MANIFEST_LIMIT_KEYS} order). Each is a positive integer,
 * `heapMb` at least 8; unknown keys are refused by name. Whether a limit is
 * above the operator's is not checked here: a worker clamps it.
 *
 * @param value - The limits, e.g. `{ cpuMs: 200, heapMb: 64 }`.
 * @param field - Names them in messages. @default 'limits'
 * @param context - Put before the field in messages (e.g. `manifest`).
 * @throws ManifestError naming the bad field, e.g. `limits.cpuMs`.
 * @example
 * validateManifestLimits({ cpuMs: 200 }); // { cpuMs: 200 }
 * validateManifestLimits({ cpuMs: 0 });
 * // ManifestError: limits.cpuMs must be a positive integer (got 0)
 */
export function validateManifestLimits(
  value: unknown,
  field = 'limits',
  context?: string,
): ManifestLimits {
  return check(ManifestLimitsSchema, value, field, context);
}

/**
 * Validates a parsed `manifest.json` (version 2) and returns a normalised
 * copy typed {@link Manifest}. Unknown fields are refused, so a typo never
 * silently drops a cache option.
 *
 * @param json - The parsed JSON.
 * @throws ManifestError (`FLOTILLA_ERR_BUNDLE`) naming the bad field, e.g.
 * `manifest: routes[3].criteria.path "p/:id" must start with "/"`.
 * @example
 * const manifest = validateManifest(JSON.parse(await readFile('dist/manifest.json', 'utf8')));
 */
export function validateManifest(json: unknown): Manifest {
  const context = 'manifest';
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ManifestError('manifest', `must be a JSON object (got ${describeValue(json)})`);
  }
  const manifest = check(ManifestSchema, json, '', context);
  manifest.routes.forEach((route, i) => {
    checkRoute(route, i, `routes[${i}]`, context, manifest.backends);
  });
  const seen = new Set<string>();
  manifest.assets.forEach((asset, i) => {
    if (seen.has(asset.path)) {
      throw new ManifestError(`assets[${i}].path`, `repeats ${describeValue(asset.path)}`, {
        context,
      });
    }
    seen.add(asset.path);
  });
  return manifest;
}
