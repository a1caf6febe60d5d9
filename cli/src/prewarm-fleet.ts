import {
  decodeRegionPrewarmResult,
  encodePrewarm,
  PREWARM_SUBJECT,
  type RegionPrewarmResult,
} from '@flotilla/protocol';
import type { NatsConnection } from '@nats-io/transport-node';

/** What {@link prewarmFleet} found. */
export interface FleetPrewarm {
  regions: RegionPrewarmResult[];
  /** Workers that hold the deployment warm now. */
  warmed: number;
  /** Workers that failed to load it (with their errors in `regions`). */
  failed: number;
  ms: number;
}

/**
 * Pre-warm on promote: asks every region (one scheduler each) to have all
 * its live workers load `deploymentId` and render a synthetic request, and
 * waits for their answers (at most `timeoutMs` + 1 s), so the environment
 * switches to a deployment that is already warm everywhere.
 */
export async function prewarmFleet(
  nc: NatsConnection,
  deploymentId: string,
  environment: string | undefined,
  timeoutMs = 10_000,
  stallMs = 500,
): Promise<FleetPrewarm> {
  const started = performance.now();
  const regions: RegionPrewarmResult[] = [];
  try {
    const replies = await nc.requestMany(
      PREWARM_SUBJECT,
      encodePrewarm({ deploymentId, ...(environment ? { environment } : {}), timeoutMs }),
      // Each region answers once its workers are done, all at about the same
      // time (they warm in parallel): once answers stop coming for
      // `stallMs`, the rest are taken as not coming (they still warm).
      { strategy: 'stall', stall: stallMs, maxWait: timeoutMs + 2000 },
    );
    for await (const msg of replies) {
      try {
        regions.push(decodeRegionPrewarmResult(msg.data));
      } catch {
        // a malformed answer is left out
      }
    }
  } catch (err) {
    // No scheduler anywhere: nothing to warm.
    if (!/no responders/i.test((err as Error).message)) throw err;
  }
  const workers = regions.flatMap((r) => r.workers);
  return {
    regions,
    warmed: workers.filter((w) => w.ok).length,
    failed: workers.filter((w) => !w.ok).length,
    ms: Math.round(performance.now() - started),
  };
}
