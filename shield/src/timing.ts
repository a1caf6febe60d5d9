/**
 * The shield's clock and its `Server-Timing` header.
 *
 * @module
 */
import { type StageTimings, topLevelMs } from '@flotilla/protocol';

/** Wall-clock ms with sub-ms precision, from the monotonic clock. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The `Server-Timing` value of an answer: the stages downstream reported
 * (with tiers, the global member's own time as `global`), the shield's own
 * time since `started` (what the stages do not cover) as `stage`, and the
 * region that rendered it when that was not this shield's own.
 *
 * @param stage - `shield` with one tier, else the tier: `edge` or `global`.
 */
export function serverTimingHeader(
  timings: StageTimings | undefined,
  started: number,
  region: string | undefined,
  stage: 'shield' | 'edge' | 'global' = 'shield',
): string {
  const stages: StageTimings = timings ? { ...timings } : {};
  stages[stage] = 0; // its own time is what the others do not cover
  stages[stage] = Math.max(0, now() - started - topLevelMs(stages));
  const text = Object.entries(stages)
    .map(([stage, ms]) => `${stage};dur=${ms.toFixed(2)}`)
    .join(', ');
  // A failover shows as the region that answered.
  return region ? `${text}, region;desc="${region}"` : text;
}
