/**
 * Region probes: `flotilla region set --near <url>` asks every region's
 * schedulers to measure the round-trip time to an API origin; one scheduler
 * per region answers (queue group `probe.<region>`).
 *
 * @module
 */
import { FlotillaError } from './errors.ts';
import { decodeJsonObject, encodeJsonBody } from './json-body.ts';

/** Subject every region's schedulers answer probes on. */
export const PROBE_SUBJECT = 'flotilla.regions.probe';

/** Queue group of `region`'s schedulers on {@link PROBE_SUBJECT}: one answer per region. */
export function probeQueue(region: string): string {
  return `probe.${region}`;
}

/** What to measure. */
export interface ProbeRequest {
  /** Origin URL (http or https) to time. */
  url: string;
  /** Round trips to time. */
  samples: number;
  /** Give up on one round trip after this long, ms. */
  timeoutMs: number;
}

/** One region's measurement. */
export interface ProbeResult {
  region: string;
  /** Median round trip, ms; `null` when the origin could not be reached. */
  rttMs: number | null;
  /** Every round trip timed, ms. */
  samplesMs: number[];
  /** Why the origin could not be reached. */
  error?: string;
}

/** Encodes a {@link ProbeRequest} as a message body. */
export function encodeProbeRequest(req: ProbeRequest): Uint8Array {
  return encodeJsonBody(req);
}

/** Decodes and checks a {@link ProbeRequest}. */
export function decodeProbeRequest(bytes: Uint8Array): ProbeRequest {
  const v = decodeJsonObject(bytes, 'probe request');
  const url = v.url;
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'probe request needs an http(s) url');
  }
  const samples = Number(v.samples);
  const timeoutMs = Number(v.timeoutMs);
  return {
    url,
    samples: Number.isInteger(samples) && samples >= 1 && samples <= 20 ? samples : 3,
    timeoutMs:
      Number.isFinite(timeoutMs) && timeoutMs >= 1 && timeoutMs <= 30_000 ? timeoutMs : 2000,
  };
}

/** Encodes a {@link ProbeResult}. */
export function encodeProbeResult(result: ProbeResult): Uint8Array {
  return encodeJsonBody(result);
}

/** Decodes and checks a {@link ProbeResult}. */
export function decodeProbeResult(bytes: Uint8Array): ProbeResult {
  const v = decodeJsonObject(bytes, 'probe result');
  if (typeof v.region !== 'string') {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'probe result has no region');
  }
  const samplesMs = Array.isArray(v.samplesMs)
    ? v.samplesMs.filter((n): n is number => typeof n === 'number')
    : [];
  return {
    region: v.region,
    rttMs: typeof v.rttMs === 'number' ? v.rttMs : null,
    samplesMs,
    ...(typeof v.error === 'string' ? { error: v.error } : {}),
  };
}
