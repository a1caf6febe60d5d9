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
  PREWARM_SUBJECT,
  PROBE_SUBJECT,
  PURGE_SUBJECT,
  SHIELD_HEARTBEAT_SUBJECT,
  SUBJECT_ROOT,
} from '@flotilla/protocol';
import { userInboxPrefix } from '@flotilla/transport';

/** The roles `flotilla start --role` runs, each with a credential of its own. */
export const ROLES = ['shield', 'scheduler', 'worker', 'control'] as const;

/** A role with a credential. */
export type RoleName = (typeof ROLES)[number];

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

/** Every control-service request. */
const CONTROL_REQUESTS = `${CONTROL_SUBJECT_PREFIX}.>`;

/** Account-wide JetStream administration nobody but the operator needs. */
const JS_ADMIN = ['$JS.API.ACCOUNT.>', '$JS.API.META.>', '$JS.API.SERVER.>'];

/**
 * A fleet role's permissions: the fleet's subjects and the JetStream API
 * (reads), never a control-service request (nor answering one, except the
 * control role), and no writes but the role's own.
 */
export function rolePermissions(role: RoleName): Permissions {
  const fleet = `${SUBJECT_ROOT}.>`;
  if (role === 'control') {
    return {
      publish: {
        allow: [
          '$JS.API.>',
          `$KV.${DEFAULT_CONTROL_BUCKET}.>`,
          `$O.${DEFAULT_BLOB_BUCKET}.>`,
          // It purges the shields' caches for the teams (each within its apps).
          PURGE_SUBJECT,
          '_INBOX.>',
        ],
        deny: [...JS_ADMIN, ...LEASE_WRITES],
      },
      subscribe: { allow: [CONTROL_REQUESTS, SHIELD_HEARTBEAT_SUBJECT, '_INBOX.>'] },
      allow_responses: true,
    };
  }
  const allowed = [fleet, '$JS.API.>', '_INBOX.>'];
  const denied = [CONTROL_REQUESTS, ...JS_ADMIN, ...CONTROL_PLANE_WRITES];
  if (role === 'scheduler') allowed.push(`$KV.${DEFAULT_LEASE_BUCKET}.>`);
  else denied.push(...LEASE_WRITES);
  return {
    publish: { allow: allowed, deny: denied },
    subscribe: { allow: [fleet, '_INBOX.>'], deny: [CONTROL_REQUESTS] },
    allow_responses: true,
  };
}

/**
 * A team's permissions: control-service requests about its own apps, the
 * pre-warm request before a promote and the region probe of `flotilla region
 * --near` (both only read), and replies in its own inbox only
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
      ],
    },
    subscribe: { allow: [`${userInboxPrefix(publicKey)}.>`] },
  };
}

/** The operator may do everything. */
export function operatorPermissions(): Permissions {
  return { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } };
}
