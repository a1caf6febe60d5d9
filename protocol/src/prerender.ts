/**
 * Prerendering at promote: the CLI sends a {@link PrerenderRequest} on
 * `flotilla.shields.prerender.<app>` once an environment serves a new
 * deployment; every shield (no queue group) waits until it serves that
 * deployment too, requests each path of the deployment's manifest
 * `prerender` list through its own cache, so it is stored there, and
 * answers with a {@link ShieldPrerenderResult}. The subject names the app,
 * so nats-server's per-app permissions decide who may prerender which app.
 * Its third token (`prerender`) is none a region subject has there.
 *
 * @module
 */
import * as v from 'valibot';
import { encodeJsonBody, jsonBodyDecoder } from './json-body.ts';
import { subjectTokenOption } from './options.ts';
import { DEPLOYMENT_ID } from './patterns.ts';
import { boundedNumber, subjectToken } from './schema.ts';

const PRERENDER_BASE = 'flotilla.shields.prerender';

/** Paths one prerender may list. */
export const MAX_PRERENDER_PATHS = 1000;

/** Where prerender requests about `app` go (every shield listens). */
export function prerenderSubject(app: string): string {
  return `${PRERENDER_BASE}.${subjectTokenOption('app', app)}`;
}

/** Prerender requests about any app (shields subscribe; permissions). */
export const PRERENDER_SUBJECT_PATTERN = `${PRERENDER_BASE}.*`;

/** A path to prerender: starts with `/`, may carry a query, no fragment or spaces. */
export const PrerenderPathSchema = v.pipe(
  v.string('must be a string'),
  v.minLength(1, 'is required'),
  v.maxLength(2048, 'must be at most 2048 characters'),
  v.startsWith('/', 'must start with "/"'),
  v.check((path) => !/[#\s]/.test(path), 'must not contain "#" or spaces'),
);

/** Prerender the manifest's paths of the deployment an environment now serves (CLI → every shield). */
export const PrerenderRequestSchema = v.object({
  app: subjectToken(),
  env: subjectToken(),
  deploymentId: v.pipe(v.string(), v.regex(DEPLOYMENT_ID, 'must be a deployment id')),
  /** Time the renders may take in all, ms (1–120000). @default 30000 */
  timeoutMs: boundedNumber(1, 120_000, 30_000),
});

/** Prerender an environment's paths ({@link PrerenderRequestSchema}). */
export type PrerenderRequest = v.InferOutput<typeof PrerenderRequestSchema>;
/** Decodes and checks a {@link PrerenderRequest}. */
export const decodePrerenderRequest = jsonBodyDecoder(PrerenderRequestSchema, 'prerender request');

/** One path's outcome on one shield. */
export const PrerenderPathResultSchema = v.object({
  path: v.string(),
  /** HTTP status the shield answered (0 when the request failed). */
  status: v.number(),
  /** True when the answer is in the cache now (a later request is a hit). */
  stored: v.boolean(),
  /** The answer's `Cache-Status`, or why it failed. */
  detail: v.string(),
});

/** One shield's outcome. */
export const ShieldPrerenderResultSchema = v.object({
  shieldId: v.string(),
  region: v.string(),
  results: v.array(PrerenderPathResultSchema),
  /** Why nothing was prerendered (e.g. the shield has no cache). */
  error: v.optional(v.string()),
});

/** One path's outcome on one shield ({@link PrerenderPathResultSchema}). */
export type PrerenderPathResult = v.InferOutput<typeof PrerenderPathResultSchema>;
/** One shield's outcome ({@link ShieldPrerenderResultSchema}). */
export type ShieldPrerenderResult = v.InferOutput<typeof ShieldPrerenderResultSchema>;
/** Decodes a {@link ShieldPrerenderResult}. */
export const decodeShieldPrerenderResult = jsonBodyDecoder(
  ShieldPrerenderResultSchema,
  'shield prerender result',
);

/** Encodes any prerender message as JSON bytes. */
export function encodePrerender(message: PrerenderRequest | ShieldPrerenderResult): Uint8Array {
  return encodeJsonBody(message);
}
