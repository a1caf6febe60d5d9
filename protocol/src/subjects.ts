import { InvalidOptionError } from './errors.ts';
import { isSubjectToken } from './patterns.ts';

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
  if (!isSubjectToken(region)) {
    throw new InvalidOptionError(
      'region',
      `must be lower-case letters, digits and dashes, got ${JSON.stringify(region)}`,
    );
  }
  const base = `flotilla.${region}`;
  return {
    miss: `${base}.miss`,
    schedulerQueue: `${base}.schedulers`,
    heartbeat: `${base}.heartbeat`,
    schedulerHeartbeat: `${base}.scheduler.heartbeat`,
    ack: (shieldId) => {
      if (!isSubjectToken(shieldId)) {
        throw new InvalidOptionError(
          'shieldId',
          `must be lower-case letters, digits and dashes, got ${JSON.stringify(shieldId)}`,
        );
      }
      return `${base}.ack.${shieldId}`;
    },
    workerRender: (workerId) => {
      if (!isSubjectToken(workerId)) {
        throw new InvalidOptionError(
          'workerId',
          `must be lower-case letters, digits and dashes, got ${JSON.stringify(workerId)}`,
        );
      }
      return `${base}.worker.${workerId}.render`;
    },
    workerPrewarm: (workerId) => {
      if (!isSubjectToken(workerId)) {
        throw new InvalidOptionError(
          'workerId',
          `must be lower-case letters, digits and dashes, got ${JSON.stringify(workerId)}`,
        );
      }
      return `${base}.worker.${workerId}.prewarm`;
    },
  };
}
