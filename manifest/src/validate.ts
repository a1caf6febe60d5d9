/**
 * Validation of `manifest.json` and of its parts (route criteria, cache
 * options, cache-key specs, limits) against their schemas (`types.ts`,
 * `route-schema.ts` and the files of a route's parts), with errors naming
 * the bad field, plus the checks that span fields.
 *
 * @module
 */
import { describeValue } from '@flotilla/protocol/patterns';
import { type AnySchema, parseOrThrow } from '@flotilla/protocol/schema';
import type * as v from 'valibot';
import {
  type CacheKeySpec,
  CacheKeySpecSchema,
  type RouteCacheOptions,
  RouteCacheOptionsSchema,
} from './cache-options-schema.ts';
import { type RouteCriteria, RouteCriteriaSchema } from './criteria-schema.ts';
import { ManifestError } from './errors.ts';
import { type ManifestRoute, ManifestRouteSchema } from './route-schema.ts';
import {
  type Manifest,
  type ManifestLimits,
  ManifestLimitsSchema,
  ManifestSchema,
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
 * Checks a value against one of the manifest's schemas and returns it
 * normalised.
 *
 * @param value - The value to check.
 * @param field - Names it in messages; each validator has its default.
 * @param context - Put before the field in messages (e.g. `manifest`).
 * @throws ManifestError naming the bad field.
 */
export type Validator<T> = (value: unknown, field?: string, context?: string) => T;

function validator<S extends AnySchema>(
  schema: S,
  defaultField: string,
): Validator<v.InferOutput<S>> {
  return (value, field = defaultField, context) => check(schema, value, field, context);
}

/**
 * Validates route criteria and returns a normalised copy (methods upper
 * case, hosts and header names lower case), e.g. `{ path: '/p/:id',
 * method: ['GET'] }`; `field` defaults to `criteria`.
 */
export const validateRouteCriteria: Validator<RouteCriteria> = validator(
  RouteCriteriaSchema,
  'criteria',
);

/** Validates a cache-key spec and returns a copy (header names lower case); `field` defaults to `key`. */
export const validateCacheKeySpec: Validator<CacheKeySpec> = validator(CacheKeySpecSchema, 'key');

/**
 * Validates cache options (as `cache({...})` takes them, with `key` already
 * a {@link CacheKeySpec}) and returns a copy; `field` defaults to `cache`.
 * Every number is a non-negative integer of seconds; unknown fields are
 * refused by name.
 *
 * @example
 * validateCacheOptions({ edge: { maxAgeSeconds: 60 } }); // ok
 * validateCacheOptions({ edge: { maxAge: 60 } });
 * // ManifestError: cache.edge.maxAge is not a known field (known: maxAgeSeconds, …)
 */
export const validateCacheOptions: Validator<RouteCacheOptions> = validator(
  RouteCacheOptionsSchema,
  'cache',
);

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
 * (keys in {@link MANIFEST_LIMIT_KEYS} order); `field` defaults to
 * `limits`. Each is a positive integer, `heapMb` at least 8; unknown keys
 * are refused by name. Whether a limit is above the operator's is not
 * checked here: a worker clamps it.
 *
 * @example
 * validateManifestLimits({ cpuMs: 200 }); // { cpuMs: 200 }
 * validateManifestLimits({ cpuMs: 0 });
 * // ManifestError: limits.cpuMs must be a positive integer (got 0)
 */
export const validateManifestLimits: Validator<ManifestLimits> = validator(
  ManifestLimitsSchema,
  'limits',
);

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
