/**
 * Pre-warm on promote: before an environment switches deployment, the CLI
 * asks every region (one scheduler each, queue group `prewarm.<region>`) to
 * have each of its live workers load the deployment and render a synthetic
 * request, so the first real request after the switch is warm.
 *
 * @module
 */
import { FlotillaError } from './errors.ts';
import { decodeJsonObject, encodeJsonBody } from './json-body.ts';
import { isSubjectToken } from './subjects.ts';

/** Subject every region's schedulers answer pre-warm requests on. */
export const PREWARM_SUBJECT = 'flotilla.regions.prewarm';

/** Queue group of `region`'s schedulers on {@link PREWARM_SUBJECT}: one answer per region. */
export function prewarmQueue(region: string): string {
  return `prewarm.${region}`;
}

/** Pre-warm one deployment (CLI → schedulers, and scheduler → each worker). */
export interface PrewarmRequest {
  deploymentId: string;
  /** Environment whose variables and backends the synthetic render uses. */
  environment?: string;
  /** Time the loads and renders may take, ms. */
  timeoutMs: number;
}

/** One worker's outcome. */
export interface WorkerPrewarmResult {
  workerId: string;
  ok: boolean;
  /** Threads of the worker holding the deployment warm afterwards. */
  warmThreads?: number;
  ms: number;
  error?: { code: string; message: string };
}

/** One region's outcome. */
export interface RegionPrewarmResult {
  region: string;
  workers: WorkerPrewarmResult[];
}

/** Encodes any pre-warm message as JSON bytes. */
export function encodePrewarm(
  message: PrewarmRequest | WorkerPrewarmResult | RegionPrewarmResult,
): Uint8Array {
  return encodeJsonBody(message);
}

/** Decodes and checks a {@link PrewarmRequest}. */
export function decodePrewarmRequest(bytes: Uint8Array): PrewarmRequest {
  const v = decodeJsonObject(bytes, 'prewarm request');
  if (!isSubjectToken(v.deploymentId)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'prewarm request needs a deploymentId');
  }
  if (v.environment !== undefined && !isSubjectToken(v.environment)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'prewarm request has a bad environment');
  }
  const timeoutMs = Number(v.timeoutMs);
  return {
    deploymentId: v.deploymentId as string,
    ...(v.environment !== undefined ? { environment: v.environment as string } : {}),
    timeoutMs:
      Number.isFinite(timeoutMs) && timeoutMs >= 1 && timeoutMs <= 60_000 ? timeoutMs : 10_000,
  };
}

function workerResult(v: Record<string, unknown>): WorkerPrewarmResult {
  const error = v.error as { code?: unknown; message?: unknown } | undefined;
  return {
    workerId: String(v.workerId ?? '?'),
    ok: v.ok === true,
    ...(typeof v.warmThreads === 'number' ? { warmThreads: v.warmThreads } : {}),
    ms: typeof v.ms === 'number' ? v.ms : 0,
    ...(error && typeof error === 'object'
      ? { error: { code: String(error.code), message: String(error.message) } }
      : {}),
  };
}

/** Decodes a {@link WorkerPrewarmResult}. */
export function decodeWorkerPrewarmResult(bytes: Uint8Array): WorkerPrewarmResult {
  return workerResult(decodeJsonObject(bytes, 'worker prewarm result'));
}

/** Decodes a {@link RegionPrewarmResult}. */
export function decodeRegionPrewarmResult(bytes: Uint8Array): RegionPrewarmResult {
  const v = decodeJsonObject(bytes, 'region prewarm result');
  if (typeof v.region !== 'string') {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'region prewarm result has no region');
  }
  const workers = Array.isArray(v.workers) ? v.workers : [];
  return {
    region: v.region,
    workers: workers
      .filter((w): w is Record<string, unknown> => !!w && typeof w === 'object')
      .map(workerResult),
  };
}
