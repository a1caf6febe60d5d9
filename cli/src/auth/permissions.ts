/**
 * The subject permissions of each credential, generated from the subjects
 * and bucket names the code uses (never copied by hand), as nats-server's
 * `permissions` blocks.
 *
 * @module
 */
import { DEFAULT_LEASE_BUCKET } from '@flotilla/autoscaler';
import { DEFAULT_BLOB_BUCKET, DEFAULT_CONTROL_BUCKET } from '@flotilla/deploy';
import {
  CONTROL_SUBJECT_PREFIX,
  LOG_SUBJECT_PATTERNS,
  logLinesSubject,
  logTailSubject,
  PRERENDER_SUBJECT_PATTERN,
  PREWARM_SUBJECT,
  PROBE_SUBJECT,
  PURGE_SUBJECT,
  prerenderSubject,
  prewarmQueue,
  probeQueue,
  regionSubjectPatterns,
  SHIELD_HEARTBEAT_SUBJECT,
  TIER_MISS_SUBJECT_PATTERN,
} from '@flotilla/protocol';
import { CHUNK_SUBJECT_PREFIX, userInboxPrefix } from '@flotilla/transport';

/** The roles `flotilla start --role` runs, each with a credential of its own. */
export const ROLES = ['shield', 'scheduler', 'worker', 'control'] as const;

/** A role with a credential. */
export type RoleName = (typeof ROLES)[number];

/** The roles that may have credentials bound to one region (`flotilla auth region`). */
export const REGION_ROLES = ['shield', 'scheduler', 'worker'] as const;

/** A role that may be bound to one region. */
export type RegionRole = (typeof REGION_ROLES)[number];

/**
 * The region a credential is bound to, and (shields) the regions it fails
 * over to. Without one, a role's credential covers every region.
 */
export interface RegionScope {
  region: string;
  /** Regions a shield may send misses to when its own has no scheduler. @default none */
  secondary?: readonly string[];
}

/** One direction of a nats-server permission. */
export interface SubjectRule {
  allow: string[];
  deny?: string[];
}

/** A nats-server `permissions` block. */
export interface Permissions {
  publish: SubjectRule;
  subscribe: SubjectRule;
  /** Lets the user answer requests it received (their reply subjects). */
  allow_responses?: boolean;
}

const KV = (bucket: string) => `KV_${bucket}`;
const OBJ = (bucket: string) => `OBJ_${bucket}`;

/** JetStream API calls that change a stream itself (not the ones that read it). */
const STREAM_WRITE_APIS = ['CREATE', 'UPDATE', 'DELETE', 'PURGE', 'MSG.DELETE', 'RESTORE'];

/** Publishing that writes bucket `bucket`'s records or its stream. */
function writesOf(stream: string, dataSubjects: string): string[] {
  return [...STREAM_WRITE_APIS.map((api) => `$JS.API.STREAM.${api}.${stream}`), dataSubjects];
}

/** Writes to the control plane (records and blobs): only the control role and the operator. */
const CONTROL_PLANE_WRITES = [
  ...writesOf(KV(DEFAULT_CONTROL_BUCKET), `$KV.${DEFAULT_CONTROL_BUCKET}.>`),
  ...writesOf(OBJ(DEFAULT_BLOB_BUCKET), `$O.${DEFAULT_BLOB_BUCKET}.>`),
];

/** Writes to the autoscaler's leases: only schedulers and the operator. */
const LEASE_WRITES = writesOf(KV(DEFAULT_LEASE_BUCKET), `$KV.${DEFAULT_LEASE_BUCKET}.>`);

/**
 * JetStream API calls that read stream `stream` and run consumers on it:
 * what opening, reading and watching a bucket takes. Never a stream of
 * one's own: a role that could create streams could capture any subject
 * (every render, every reply) into one and read it past its subscribe
 * permissions.
 */
function readsOf(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    // CONSUMER.CREATE / NAMES / LIST.<stream>, CREATE / DELETE / INFO.<stream>.<consumer>…
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    // CONSUMER.DURABLE.CREATE / MSG.NEXT.<stream>.<consumer>
    `$JS.API.CONSUMER.*.*.${stream}.>`,
  ];
}

/** The account's JetStream limits (what a JetStream client asks first). */
const JS_ACCOUNT_INFO = '$JS.API.INFO';

/** Reads of the control plane (records and blobs): every role. */
const CONTROL_PLANE_READS = [
  ...readsOf(KV(DEFAULT_CONTROL_BUCKET)),
  ...readsOf(OBJ(DEFAULT_BLOB_BUCKET)),
];

/** Every control-service request. */
const CONTROL_REQUESTS = `${CONTROL_SUBJECT_PREFIX}.>`;

/** Account-wide JetStream administration nobody but the operator needs. */
const JS_ADMIN = ['$JS.API.ACCOUNT.>', '$JS.API.META.>', '$JS.API.SERVER.>'];

/** The subjects the other chunks of a large reply are pulled from (requesters publish, responders subscribe). */
const CHUNK_PULLS = `${CHUNK_SUBJECT_PREFIX}.*`;

/**
 * What each fleet role publishes and subscribes to besides JetStream and its
 * own inbox: exactly the subjects its code uses (answers to the requests it
 * serves go out as responses, `allow_responses`), in `scope`'s region(s) or
 * every region.
 */
function roleSubjects(
  role: RegionRole,
  scope: RegionScope | undefined,
): { publish: string[]; subscribe: string[] } {
  const home = regionSubjectPatterns(scope?.region ?? '*');
  switch (role) {
    // Sends misses to its region's schedulers (and its secondary regions',
    // on failover), hears which scheduler took each and which are alive;
    // answers purges (and sends them, for its admin API) and says it is alive
    // to purgers; answers log tails and
    // publishes the tailed apps' access lines (`flotilla logs`).
    case 'shield': {
      const reach = [home, ...(scope?.secondary ?? []).map((r) => regionSubjectPatterns(r))];
      return {
        publish: [
          ...reach.map((s) => s.miss),
          // The rest of a streamed body, pulled from the worker rendering it.
          ...reach.map((s) => s.workerStream),
          CHUNK_PULLS,
          SHIELD_HEARTBEAT_SUBJECT,
          LOG_SUBJECT_PATTERNS.lines,
          // Cache tiers: an edge's misses to the global member owning the key.
          TIER_MISS_SUBJECT_PATTERN,
          // The admin API's purges and revalidations (`POST /purge`, guarded by the
          // admin token), to every shield; the acks come back to its own inbox.
          PURGE_SUBJECT,
        ],
        subscribe: [
          ...reach.flatMap((s) => [s.schedulerHeartbeat, s.ack]),
          PURGE_SUBJECT,
          // Cache tiers: the global members, from the shields' heartbeats, and their misses.
          SHIELD_HEARTBEAT_SUBJECT,
          TIER_MISS_SUBJECT_PATTERN,
          LOG_SUBJECT_PATTERNS.tail,
          // Prerenders of any app at promote (`prerender` paths): it requests them of itself.
          PRERENDER_SUBJECT_PATTERN,
        ],
      };
    }
    // Takes misses, pre-warm and probe requests (each only in its region's
    // queue group: nats-server's "<subject> <queue>" permissions), dispatches
    // renders and pre-warms to workers, acks and heartbeats to shields.
    case 'scheduler': {
      const region = scope?.region ?? '*';
      return {
        publish: [
          home.schedulerHeartbeat,
          home.ack,
          home.workerRender,
          home.workerPrewarm,
          CHUNK_PULLS,
        ],
        subscribe: [
          home.heartbeat,
          `${home.miss} ${home.schedulerQueue}`,
          `${PREWARM_SUBJECT} ${prewarmQueue(region)}`,
          `${PROBE_SUBJECT} ${probeQueue(region)}`,
          CHUNK_PULLS,
        ],
      };
    }
    // Renders and pre-warms what a scheduler sends it; heartbeats; answers
    // log tails and publishes the tailed apps' console lines.
    case 'worker':
      return {
        publish: [home.heartbeat, LOG_SUBJECT_PATTERNS.lines],
        subscribe: [
          home.workerRender,
          home.workerPrewarm,
          home.workerStream,
          CHUNK_PULLS,
          LOG_SUBJECT_PATTERNS.tail,
        ],
      };
  }
}

/**
 * A fleet role's permissions: the subjects its code uses
 * (`roleSubjects`, bound to `scope`'s region when given; the control
 * service's, `flotilla.control.<app>.…`),
 * JetStream reads, no writes but the role's own, and replies only under its
 * own inbox (`publicKey`'s, {@link userInboxPrefix}), so no role reads
 * another credential's answers. Never a control-service request (nor
 * answering one, except the control role).
 */
export function rolePermissions(
  role: RoleName,
  publicKey: string,
  scope?: RegionScope,
): Permissions {
  const inbox = `${userInboxPrefix(publicKey)}.>`;
  if (role === 'control') {
    return {
      publish: {
        allow: [
          JS_ACCOUNT_INFO,
          ...CONTROL_PLANE_READS,
          ...CONTROL_PLANE_WRITES,
          // It purges the shields' caches for the teams (each within its apps).
          PURGE_SUBJECT,
        ],
        deny: [...JS_ADMIN, ...LEASE_WRITES],
      },
      subscribe: { allow: [CONTROL_REQUESTS, SHIELD_HEARTBEAT_SUBJECT, inbox] },
      allow_responses: true,
    };
  }
  const subjects = roleSubjects(role, scope);
  const allowed = [...subjects.publish, JS_ACCOUNT_INFO, ...CONTROL_PLANE_READS];
  const denied = [CONTROL_REQUESTS, ...JS_ADMIN, ...CONTROL_PLANE_WRITES];
  if (role === 'scheduler') allowed.push(...readsOf(KV(DEFAULT_LEASE_BUCKET)), ...LEASE_WRITES);
  else denied.push(...LEASE_WRITES);
  return {
    publish: { allow: allowed, deny: denied },
    subscribe: { allow: [...subjects.subscribe, inbox], deny: [CONTROL_REQUESTS] },
    allow_responses: true,
  };
}

/**
 * A team's permissions: control-service requests about its own apps, the
 * pre-warm request before a promote and the region probe of `flotilla region
 * --near` (both only read), tails of its own apps' logs and their lines
 * (`flotilla logs`), and replies in its own inbox only
 * (so it never reads another credential's answers).
 */
export function teamPermissions(apps: readonly string[], publicKey: string): Permissions {
  return {
    publish: {
      allow: [
        // `.>`: `<verb>` and `<verb>.<service id>` (an upload's chunks go to one service).
        ...apps.map((app) => `${CONTROL_SUBJECT_PREFIX}.${app}.>`),
        PREWARM_SUBJECT,
        PROBE_SUBJECT,
        ...apps.map(logTailSubject),
        // Prerendering its apps' `prerender` paths at promote.
        ...apps.map(prerenderSubject),
      ],
    },
    subscribe: { allow: [...apps.map(logLinesSubject), `${userInboxPrefix(publicKey)}.>`] },
  };
}

/** The operator may do everything. */
export function operatorPermissions(): Permissions {
  return { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } };
}
