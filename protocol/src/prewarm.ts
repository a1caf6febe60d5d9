/**
 * Pre-warm on promote: before an environment switches deployment, the CLI
 * asks every region (one scheduler each, queue group `prewarm.<region>`) to
 * have each of its live workers load the deployment and render a synthetic
 * request, so the first real request after the switch is warm.
 *
 * @module
 */
import * as v from 'valibot';
import type { WireErrorCode } from './errors.ts';
import { encodeJsonBody, jsonBodyDecoder } from './json-body.ts';
import { boundedNumber, isPlainObject, subjectToken } from './schema.ts';

/** Subject every region's schedulers answer pre-warm requests on. */
export const PREWARM_SUBJECT = 'flotilla.regions.prewarm';

/** Queue group of `region`'s schedulers on {@link PREWARM_SUBJECT}: one answer per region. */
export function prewarmQueue(region: string): string {
  return `prewarm.${region}`;
}

/** Pre-warm one deployment (CLI → schedulers, and scheduler → each worker). */
export const PrewarmRequestSchema = v.object({
  deploymentId: subjectToken(),
  /** Environment whose variables and backends the synthetic render uses. */
  environment: v.optional(subjectToken()),
  /** Time the loads and renders may take, ms (1–60000). @default 10000 */
  timeoutMs: boundedNumber(1, 60_000, 10_000),
});

/** Pre-warm one deployment ({@link PrewarmRequestSchema}). */
export type PrewarmRequest = v.InferOutput<typeof PrewarmRequestSchema>;
/** Decodes and checks a {@link PrewarmRequest}. */
export const decodePrewarmRequest = jsonBodyDecoder(PrewarmRequestSchema, 'prewarm request');

/** One worker's outcome. Decoded leniently: a bad field gets its default. */
export const WorkerPrewarmResultSchema = v.object({
  workerId: v.pipe(
    v.unknown(),
    v.transform((id) => String(id ?? '?')),
  ),
  ok: v.pipe(
    v.unknown(),
    v.transform((ok) => ok === true),
  ),
  /** Threads of the worker holding the deployment warm afterwards. */
  warmThreads: v.fallback(v.optional(v.number()), undefined),
  ms: v.fallback(v.number(), 0),
  error: v.fallback(
    v.optional(
      v.pipe(
        v.looseObject({ code: v.unknown(), message: v.unknown() }),
        v.transform((e) => ({ code: String(e.code) as WireErrorCode, message: String(e.message) })),
      ),
    ),
    undefined,
  ),
});

/** One worker's outcome ({@link WorkerPrewarmResultSchema}). */
export type WorkerPrewarmResult = v.InferOutput<typeof WorkerPrewarmResultSchema>;
/** Decodes a {@link WorkerPrewarmResult}. */
export const decodeWorkerPrewarmResult = jsonBodyDecoder(
  WorkerPrewarmResultSchema,
  'worker prewarm result',
);

/** One region's outcome. */
export const RegionPrewarmResultSchema = v.object({
  region: v.string(),
  /** Entries that are not objects are dropped. */
  workers: v.fallback(
    v.pipe(
      v.array(v.unknown()),
      v.transform((workers) =>
        workers.filter(isPlainObject).map((w) => v.parse(WorkerPrewarmResultSchema, w)),
      ),
    ),
    [],
  ),
});

/** One region's outcome ({@link RegionPrewarmResultSchema}). */
export type RegionPrewarmResult = v.InferOutput<typeof RegionPrewarmResultSchema>;
/** Decodes a {@link RegionPrewarmResult}. */
export const decodeRegionPrewarmResult = jsonBodyDecoder(
  RegionPrewarmResultSchema,
  'region prewarm result',
);

/** Encodes any pre-warm message as JSON bytes. */
export function encodePrewarm(
  message: PrewarmRequest | WorkerPrewarmResult | RegionPrewarmResult,
): Uint8Array {
  return encodeJsonBody(message);
}
