import { subjectTokenOption } from './options.ts';

/**
 * NATS subjects of one region. Region names are validated so that they can
 * never inject wildcards or extra tokens into a subject.
 */

/** Subjects and queue groups used by one region. */
export interface RegionSubjects {
  /** Shield → schedulers: render a cache miss. Schedulers listen in {@link RegionSubjects.schedulerQueue}. */
  miss: string;
  /** Queue group shared by the region's schedulers. */
  schedulerQueue: string;
  /** Workers → schedulers: heartbeats. */
  heartbeat: string;
  /** Scheduler → one worker: render on that worker. */
  workerRender(workerId: string): string;
  /** Scheduler → one worker: load and pre-render a deployment (on promote). */
  workerPrewarm(workerId: string): string;
  /** Schedulers → shields: scheduler heartbeats. */
  schedulerHeartbeat: string;
  /** Scheduler → one shield: "I took request X" (so the shield can tell when that scheduler dies). */
  ack(shieldId: string): string;
}

/** Builds the subjects of `region`. */
export function regionSubjects(region: string): RegionSubjects {
  const base = `flotilla.${subjectTokenOption('region', region)}`;
  return {
    miss: `${base}.miss`,
    schedulerQueue: `${base}.schedulers`,
    heartbeat: `${base}.heartbeat`,
    schedulerHeartbeat: `${base}.scheduler.heartbeat`,
    ack: (shieldId) => `${base}.ack.${subjectTokenOption('shieldId', shieldId)}`,
    workerRender: (workerId) => `${base}.worker.${subjectTokenOption('workerId', workerId)}.render`,
    workerPrewarm: (workerId) =>
      `${base}.worker.${subjectTokenOption('workerId', workerId)}.prewarm`,
  };
}
