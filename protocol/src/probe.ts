/**
 * Region probes: `flotilla region set --near <url>` asks every region's
 * schedulers to measure the round-trip time to an API origin; one scheduler
 * per region answers (queue group `probe.<region>`).
 *
 * @module
 */
import * as v from 'valibot';
import { encodeJsonBody, jsonBodyDecoder } from './json-body.ts';
import { boundedNumber, got } from './schema.ts';

/** Subject every region's schedulers answer probes on. */
export const PROBE_SUBJECT = 'flotilla.regions.probe';

/** Queue group of `region`'s schedulers on {@link PROBE_SUBJECT}: one answer per region. */
export function probeQueue(region: string): string {
  return `probe.${region}`;
}

/** What to measure. Bad counts and timeouts get their defaults. */
export const ProbeRequestSchema = v.object({
  /** Origin URL (http or https) to time. */
  url: v.pipe(v.string(), v.regex(/^https?:\/\//, got('must be an http(s) URL'))),
  /** Round trips to time (1–20). @default 3 */
  samples: boundedNumber(1, 20, 3, true),
  /** Give up on one round trip after this long, ms (1–30000). @default 2000 */
  timeoutMs: boundedNumber(1, 30_000, 2000),
});

/** What to measure ({@link ProbeRequestSchema}). */
export type ProbeRequest = v.InferOutput<typeof ProbeRequestSchema>;
/** Encodes a {@link ProbeRequest} as a message body. */
export const encodeProbeRequest = encodeJsonBody<ProbeRequest>;
/** Decodes and checks a {@link ProbeRequest}. */
export const decodeProbeRequest = jsonBodyDecoder(ProbeRequestSchema, 'probe request');

/** One region's measurement. Decoded leniently, but it must name its region. */
export const ProbeResultSchema = v.object({
  region: v.string(),
  /** Median round trip, ms; `null` when the origin could not be reached. */
  rttMs: v.fallback(v.nullable(v.number()), null),
  /** Every round trip timed, ms (entries that are not numbers are dropped). */
  samplesMs: v.fallback(
    v.pipe(
      v.array(v.unknown()),
      v.transform((samples) => samples.filter((n): n is number => typeof n === 'number')),
    ),
    [],
  ),
  /** Why the origin could not be reached. */
  error: v.fallback(v.optional(v.string()), undefined),
});

/** One region's measurement ({@link ProbeResultSchema}). */
export type ProbeResult = v.InferOutput<typeof ProbeResultSchema>;
/** Encodes a {@link ProbeResult}. */
export const encodeProbeResult = encodeJsonBody<ProbeResult>;
/** Decodes and checks a {@link ProbeResult}. */
export const decodeProbeResult = jsonBodyDecoder(ProbeResultSchema, 'probe result');
