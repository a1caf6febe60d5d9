import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  InvalidOptionError,
  MAX_BUNDLE_BYTES,
  positiveInt,
  wallLimitBelow,
} from '@flotilla/protocol';

/** Per-render and per-isolate limits. Operators set them; a deployment may ask for less. */
export interface SandboxLimits {
  /**
   * Hard CPU time for one render, in ms (CPU time, not wall time: see
   * `runtime/README.md`, "Limits"): past it the isolate is disposed and
   * the render fails with `FLOTILLA_ERR_CPU_LIMIT`.
   * @default 1000
   */
  cpuMs: number;
  /**
   * Wall time for one render, in ms, counting time spent awaiting the host.
   * Kept below the request deadline (`wallLimitBelow` of `@flotilla/protocol`),
   * so that a runaway render answers `FLOTILLA_ERR_WALL_LIMIT`, not `504`.
   * @default 8000 (the default 10 s deadline less 2 s)
   */
  wallMs: number;
  /**
   * Isolate heap in MB, at least 8; past it the isolate is disposed (`FLOTILLA_ERR_MEMORY_LIMIT`).
   * @default 128
   */
  heapMb: number;
  /**
   * Largest response body in bytes (`FLOTILLA_ERR_OUTPUT_LIMIT`), checked
   * inside the isolate before the body is copied out (a stream body is
   * cancelled at the chunk that crosses it).
   * @default 10485760
   */
  outputBytes: number;
  /**
   * Largest bundle in bytes (`FLOTILLA_ERR_BUNDLE`).
   * @default 10485760
   */
  bundleBytes: number;
  /**
   * Largest response body, in bytes (after content decoding), that one
   * backend `fetch` may return to the bundle. Past it the sub-request is
   * aborted and the guest's `fetch` rejects with a `TypeError` naming the cap.
   * @default 8388608
   */
  backendResponseBytes: number;
}

/** The defaults of {@link SandboxLimits}. */
export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  cpuMs: 1000,
  wallMs: wallLimitBelow(DEFAULT_REQUEST_TIMEOUT_MS),
  heapMb: 128,
  outputBytes: 10 * 1024 * 1024,
  bundleBytes: MAX_BUNDLE_BYTES,
  backendResponseBytes: 8 * 1024 * 1024,
});

const MIN_HEAP_MB = 8;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Validates `requested` limits and clamps each to the operator's `ceiling`:
 * a deployment may ask for less, never more.
 *
 * @throws InvalidOptionError `FLOTILLA_ERR_INVALID_OPTION` naming the bad
 * limit (`limits.cpuMs`, …).
 */
export function resolveLimits(
  requested: Partial<SandboxLimits> = {},
  ceiling: SandboxLimits = DEFAULT_LIMITS,
): SandboxLimits {
  if (typeof requested !== 'object' || requested === null) {
    throw new InvalidOptionError('limits', 'must be an object');
  }
  const out = {} as SandboxLimits;
  for (const key of Object.keys(DEFAULT_LIMITS) as Array<keyof SandboxLimits>) {
    const value = positiveInt(`limits.${key}`, requested[key], ceiling[key]);
    out[key] = Math.min(value, ceiling[key]);
  }
  // isolated-vm refuses a smaller heap; Node timers fire at once past 2^31-1 ms.
  if (out.heapMb < MIN_HEAP_MB) {
    throw new InvalidOptionError(
      'limits.heapMb',
      `must be at least ${MIN_HEAP_MB}, got ${out.heapMb}`,
    );
  }
  for (const key of ['cpuMs', 'wallMs'] as const) {
    if (out[key] > MAX_TIMER_MS) {
      throw new InvalidOptionError(
        `limits.${key}`,
        `must be at most ${MAX_TIMER_MS}, got ${out[key]}`,
      );
    }
  }
  return out;
}
