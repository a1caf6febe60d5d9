import {
  decodeShieldPrerenderResult,
  encodePrerender,
  prerenderSubject,
  type ShieldPrerenderResult,
} from '@flotilla/protocol';
import type { NatsConnection } from '@nats-io/transport-node';

/** What {@link prerenderFleet} found. */
export interface FleetPrerender {
  shields: ShieldPrerenderResult[];
  /** Paths (per shield) stored in a cache now. */
  stored: number;
  /** Paths (per shield) that were not stored, with why in `shields`. */
  failed: number;
  ms: number;
}

/**
 * Prerender at promote: asks every shield to render the `prerender` paths
 * of the deployment `env` of `app` now serves through its own cache, and
 * waits for their answers (each shield answers once it is done; once
 * answers stop coming for `stallMs`, the rest are taken as not coming).
 */
export async function prerenderFleet(
  nc: NatsConnection,
  app: string,
  env: string,
  deploymentId: string,
  timeoutMs = 30_000,
  stallMs = 500,
): Promise<FleetPrerender> {
  const started = performance.now();
  const shields: ShieldPrerenderResult[] = [];
  try {
    const replies = await nc.requestMany(
      prerenderSubject(app),
      encodePrerender({ app, env, deploymentId, timeoutMs }),
      { strategy: 'stall', stall: stallMs, maxWait: timeoutMs + 2000 },
    );
    for await (const msg of replies) {
      try {
        shields.push(decodeShieldPrerenderResult(msg.data));
      } catch {
        // a malformed answer is left out
      }
    }
  } catch (err) {
    // No shield anywhere: nothing to prerender.
    if (!/no responders/i.test((err as Error).message)) throw err;
  }
  const results = shields.flatMap((s) => s.results);
  return {
    shields,
    stored: results.filter((r) => r.stored).length,
    failed: results.filter((r) => !r.stored).length + shields.filter((s) => s.error).length,
    ms: Math.round(performance.now() - started),
  };
}
