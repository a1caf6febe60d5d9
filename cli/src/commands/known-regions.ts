/**
 * Which regions exist, for `flotilla region set`: those whose schedulers or
 * workers are heard on NATS (their heartbeats), and those an environment of
 * the control plane already names.
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import type { NatsConnection } from '@nats-io/transport-node';

/** What {@link knownRegions} found. */
export interface KnownRegions {
  /** Regions with a scheduler or worker heard during the wait. */
  heard: Set<string>;
  /** Regions an environment names as primary or secondary. */
  configured: Set<string>;
  /** False when this credential may not read heartbeats (a team's): only `configured` counts. */
  listened: boolean;
}

/**
 * Listens to the fleet's heartbeats (scheduler and worker) for up to
 * `waitMs`, or until every region of `wanted` is heard, and reads the
 * regions the control plane's environments name: every app's when
 * `everyApp` (no credential: the control plane is read directly), else
 * `app`'s (a team's credential may list no other).
 */
export async function knownRegions(
  nc: NatsConnection,
  cp: ControlApi,
  app: string,
  wanted: readonly string[],
  waitMs: number,
  everyApp: boolean,
): Promise<KnownRegions> {
  const heard = new Set<string>();
  let listened = true;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const timer = setTimeout(() => done(), waitMs);
  const onBeat = (err: Error | null, subject: string) => {
    if (err) {
      // A credential without the right to read heartbeats (nats-server says so at once).
      listened = false;
      done();
      return;
    }
    const region = subject.split('.')[1];
    if (region) heard.add(region);
    if (wanted.every((r) => heard.has(r))) done();
  };
  const subs = [
    nc.subscribe('flotilla.*.scheduler.heartbeat', {
      callback: (err, msg) => onBeat(err, msg?.subject ?? ''),
    }),
    nc.subscribe('flotilla.*.heartbeat', {
      callback: (err, msg) => onBeat(err, msg?.subject ?? ''),
    }),
  ];
  const configured = new Set<string>();
  try {
    const environments = await cp.environments(everyApp ? undefined : app);
    for (const e of environments) {
      if (e.primaryRegion) configured.add(e.primaryRegion);
      if (e.secondaryRegion) configured.add(e.secondaryRegion);
    }
    if (wanted.every((r) => configured.has(r))) done();
    await finished;
  } finally {
    clearTimeout(timer);
    for (const s of subs) s.unsubscribe();
  }
  return { heard, configured, listened };
}
