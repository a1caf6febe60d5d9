import { InvalidOptionError } from './errors.ts';
import { subjectTokenOption } from './options.ts';
import { isSubjectToken } from './patterns.ts';

/** First token of every Flotilla subject. */
export const SUBJECT_ROOT = 'flotilla';

/** Second token of the control service's subjects; no region may be called so. */
const CONTROL_TOKEN = 'control';

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
  /** Shield → one worker: pull the next chunks of a streamed body (see stream.ts). */
  workerStream(workerId: string): string;
  /** Schedulers → shields: scheduler heartbeats. */
  schedulerHeartbeat: string;
  /** Scheduler → one shield: "I took request X" (so the shield can tell when that scheduler dies). */
  ack(shieldId: string): string;
}

/** A region's subjects under `base` (`flotilla.<region>`), each id passed through `id`. */
function subjectsUnder(base: string, id: (name: string, value: string) => string): RegionSubjects {
  return {
    miss: `${base}.miss`,
    schedulerQueue: `${base}.schedulers`,
    heartbeat: `${base}.heartbeat`,
    schedulerHeartbeat: `${base}.scheduler.heartbeat`,
    ack: (shieldId) => `${base}.ack.${id('shieldId', shieldId)}`,
    workerRender: (workerId) => `${base}.worker.${id('workerId', workerId)}.render`,
    workerPrewarm: (workerId) => `${base}.worker.${id('workerId', workerId)}.prewarm`,
    workerStream: (workerId) => `${base}.worker.${id('workerId', workerId)}.stream`,
  };
}

/** `flotilla.<region>`, the region name checked. */
function regionBase(region: string): string {
  const token = subjectTokenOption('region', region);
  if (token === CONTROL_TOKEN) {
    throw new InvalidOptionError(
      'region',
      `"${CONTROL_TOKEN}" is reserved for the control service`,
    );
  }
  return `${SUBJECT_ROOT}.${token}`;
}

/** Builds the subjects of `region`. */
export function regionSubjects(region: string): RegionSubjects {
  return subjectsUnder(regionBase(region), subjectTokenOption);
}

/**
 * The subjects of {@link RegionSubjects} as nats-server wildcard patterns,
 * each id (worker, shield) a `*`: what NATS permissions are built from.
 */
export interface RegionSubjectPatterns {
  miss: string;
  /** The schedulers' queue group on {@link RegionSubjectPatterns.miss} (a queue name pattern). */
  schedulerQueue: string;
  heartbeat: string;
  schedulerHeartbeat: string;
  ack: string;
  workerRender: string;
  workerPrewarm: string;
  workerStream: string;
}

/**
 * The subject patterns of `region`, or of every region (`*`, the default):
 * built by the same code as {@link regionSubjects}, so a renamed subject
 * renames its pattern too. With `*`, a pattern may also match a control
 * subject (`flotilla.*.ack.*` matches `flotilla.control.ack.<verb>`):
 * permissions built from them deny {@link CONTROL_SUBJECT_PREFIX}`.>` to
 * everyone but the control service.
 */
export function regionSubjectPatterns(region = '*'): RegionSubjectPatterns {
  const s = subjectsUnder(region === '*' ? `${SUBJECT_ROOT}.*` : regionBase(region), () => '*');
  return {
    miss: s.miss,
    schedulerQueue: s.schedulerQueue,
    heartbeat: s.heartbeat,
    schedulerHeartbeat: s.schedulerHeartbeat,
    ack: s.ack('*'),
    workerRender: s.workerRender('*'),
    workerPrewarm: s.workerPrewarm('*'),
    workerStream: s.workerStream('*'),
  };
}
/**
 * Prefix of the control service's subjects, `flotilla.control.<app>.<verb>`:
 * the app is a token of the subject so that nats-server's per-user subject
 * permissions decide which credential may change which app.
 */
export const CONTROL_SUBJECT_PREFIX = `${SUBJECT_ROOT}.${CONTROL_TOKEN}`;

/** Queue group of the control services (one answers each request). */
export const CONTROL_QUEUE = 'flotilla.control';

/**
 * The app token of requests about every app (listing all environments or
 * deployments): not a valid app name, so no team's permissions cover it.
 */
export const CONTROL_FLEET_APP = '_fleet';

/**
 * The subject of control verb `verb` about `app` ({@link CONTROL_FLEET_APP}
 * for every app): any control service answers it, or only `serviceId` (the
 * chunks of one upload must reach the service that holds it).
 */
export function controlSubject(app: string, verb: string, serviceId?: string): string {
  const appToken = app === CONTROL_FLEET_APP ? app : subjectTokenOption('app', app);
  const subject = `${CONTROL_SUBJECT_PREFIX}.${appToken}.${subjectTokenOption('verb', verb)}`;
  return serviceId === undefined
    ? subject
    : `${subject}.${subjectTokenOption('serviceId', serviceId)}`;
}

/**
 * Log tails (`flotilla logs`): a requester asks on `flotilla.logs.tail.<app>`;
 * every shield and worker answers with its recent lines of that app and, for
 * a lease, publishes new ones on `flotilla.logs.lines.<app>`, a subject the
 * process derives from the app of the request subject (never one the
 * requester names), so nats-server's per-app permissions decide who may
 * tail and read which app. Both have four tokens whose third (`tail`,
 * `lines`) is no token a region subject has there (`ack`, `scheduler`,
 * `worker`), so no region pattern (`flotilla.*.ack.*`) matches them.
 */
const LOGS_BASE = `${SUBJECT_ROOT}.logs`;

/** Where tail requests about `app` go (every shield and worker listens). */
export function logTailSubject(app: string): string {
  return `${LOGS_BASE}.tail.${subjectTokenOption('app', app)}`;
}

/** Where the lines of `app` are published while someone tails it. */
export function logLinesSubject(app: string): string {
  return `${LOGS_BASE}.lines.${subjectTokenOption('app', app)}`;
}

/** The log subjects of every app, as nats-server wildcard patterns (for permissions and listeners). */
export const LOG_SUBJECT_PATTERNS = {
  /** Tail requests about any app: every shield and worker subscribes. */
  tail: `${LOGS_BASE}.tail.*`,
  /** Lines of any app: shields and workers publish. */
  lines: `${LOGS_BASE}.lines.*`,
} as const;

/** The app a log subject (tail request or lines) is about, or `undefined` for another subject. */
export function appOfLogSubject(subject: string): string | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || `${parts[0]}.${parts[1]}` !== LOGS_BASE) return undefined;
  const app = parts[3];
  return isSubjectToken(app) ? app : undefined;
}
