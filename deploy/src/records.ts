import { FlotillaError, SplitRulesSchema } from '@flotilla/protocol';
import { parseOrThrow } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { SecretEnvelopeSchema } from './secret-envelope.ts';

/**
 * The records the control plane keeps in its KV bucket, and their keys:
 * `deployment.<id>` (immutable), `manifest.<id>` (immutable) and
 * `env.<app>.<env>` (compare-and-set updated).
 *
 * @module
 */

/** An immutable, content-addressed deployment (`deployment.<id>`). */
export const DeploymentRecordSchema = v.object({
  /** `<app>-<first 12 hex of manifest.contentHash>`. */
  id: v.string(),
  /** App name (the manifest's `name`). */
  app: v.string(),
  /** The manifest's `contentHash`. */
  contentHash: v.string(),
  /** sha256 of `bundle.js`, hex. */
  bundleHash: v.string(),
  /** The manifest's `framework`. */
  framework: v.string(),
  bundleBytes: v.number(),
  assetCount: v.number(),
  /**
   * How many paths the manifest's `prerender` lists: 0 when none, so a
   * switch to the deployment asks no shield to prerender. Absent on records
   * written before it was recorded (unknown: the shields are asked).
   */
  prerenderPaths: v.optional(v.number()),
  /** ISO 8601 time of the first publish. */
  createdAt: v.string(),
  /** The environment the first publish promoted it to, if any. */
  publishedFor: v.optional(v.string()),
});

/** An immutable, content-addressed deployment ({@link DeploymentRecordSchema}). */
export type DeploymentRecord = v.InferOutput<typeof DeploymentRecordSchema>;

/** One deployment of an environment's split test and its share of new visitors. */
export const SplitEntrySchema = v.object({
  deploymentId: v.string(),
  /** Whole percent of new visitors, 1–100; the entries of a split sum to 100. */
  percent: v.number(),
  /** A destination of the deployment's router (`router.destination(name, …)`), if any. */
  destination: v.optional(v.string()),
});

/** One deployment of an environment's split test ({@link SplitEntrySchema}). */
export type SplitEntry = v.InferOutput<typeof SplitEntrySchema>;

/** Only the string values of an object (anything else: none). */
const stringMap = v.fallback(
  v.pipe(
    v.record(v.string(), v.unknown()),
    v.transform((map) => {
      const out: Record<string, string> = {};
      for (const [k, value] of Object.entries(map)) if (typeof value === 'string') out[k] = value;
      return out;
    }),
  ),
  {},
);

/**
 * Which deployment an environment of an app serves, and its settings
 * (`env.<app>.<env>`), as stored: decoded leniently (a field of the wrong
 * type gets its default), but it must name its app and deployment.
 */
export const EnvironmentRecordSchema = v.object({
  app: v.string(),
  env: v.pipe(v.unknown(), v.transform(String)),
  deploymentId: v.string(),
  /** Earlier deployment ids, newest first, at most 20 (rollback pops the first). */
  history: v.fallback(
    v.pipe(
      v.array(v.unknown()),
      v.transform((ids) => ids.filter((id): id is string => typeof id === 'string')),
    ),
    [],
  ),
  /** Region serving the environment first, if set. */
  primaryRegion: v.fallback(v.optional(v.string()), undefined),
  /** Region taking over when the primary is down, if set. */
  secondaryRegion: v.fallback(v.optional(v.string()), undefined),
  /** Backend name (declared by the manifest) → origin replacing the manifest's default. */
  backends: stringMap,
  /** Plain environment variables the handler sees as `env`. */
  vars: stringMap,
  /**
   * Secret variables (name → envelope sealed to the fleet's secrets key);
   * workers decrypt them into `env` just before a render. A name is either
   * here or in `vars`, never both.
   */
  secrets: v.fallback(v.record(v.string(), SecretEnvelopeSchema), {}),
  /**
   * Split test: visitors are spread over these deployments by percentage
   * (sticky through a cookie). It always includes `deploymentId` (the
   * deployment the environment serves, which previews, rollbacks and backend
   * checks refer to); a promote or rollback to another deployment ends it.
   * Absent when every visitor gets `deploymentId` (or a stored entry is malformed).
   */
  split: v.fallback(v.optional(v.pipe(v.array(SplitEntrySchema), v.minLength(1))), undefined),
  /**
   * Split-test rules, in order: the first whose criteria (cookie, header,
   * device, country) all match a request picks its target from the rule's
   * own split; a request no rule matches gets `split` (or `deploymentId`).
   * A promote or rollback ends them, as it ends `split`. Absent when none
   * (or a stored rule list is malformed).
   */
  splitRules: v.fallback(v.optional(SplitRulesSchema), undefined),
  /** ISO 8601 time of the last change. */
  updatedAt: v.pipe(v.unknown(), v.transform(String)),
});

/** Which deployment an environment of an app serves, and its settings. */
export type EnvironmentRecord = v.InferOutput<typeof EnvironmentRecordSchema> & {
  /** Store revision of this version of the record (compare-and-set token). */
  revision: number;
};

/** Most earlier deployments an environment remembers. */
export const MAX_HISTORY = 20;

/** Most deployments one split test spreads visitors over. */
export const MAX_SPLIT = 10;

/** KV key of a deployment record. */
export function deploymentKey(id: string): string {
  return `deployment.${id}`;
}

/** KV key of a deployment's manifest. */
export function manifestKey(id: string): string {
  return `manifest.${id}`;
}

/** KV key of the fleet's secrets public key ({@link SecretsKeyRecordSchema}). */
export const SECRETS_KEY_KEY = 'fleet.secrets-key';

/**
 * The fleet's secrets public key (`fleet.secrets-key`): what CLIs seal new
 * secret values to. The private keys never reach the control plane.
 */
export const SecretsKeyRecordSchema = v.object({
  /** Key id (16 hex digits of the sha256 of the raw public key). */
  kid: v.string(),
  /** The X25519 public key, SPKI PEM. */
  publicKey: v.string(),
  /** ISO 8601 time it was set. */
  updatedAt: v.string(),
});

/** The fleet's secrets public key ({@link SecretsKeyRecordSchema}). */
export type SecretsKeyRecord = v.InferOutput<typeof SecretsKeyRecordSchema>;

/** The secrets key record stored under `key`. */
export function decodeSecretsKey(key: string, value: Uint8Array): SecretsKeyRecord {
  return decodeRecord(SecretsKeyRecordSchema, key, value, 'a secrets key');
}

/** KV key of an environment of an app. */
export function environmentKey(app: string, env: string): string {
  return `env.${app}.${env}`;
}

/** The deployment id of a manifest's app and content hash. */
export function deploymentIdOf(app: string, contentHash: string): string {
  return `${app}-${contentHash.slice(0, 12)}`;
}

/** The app of a deployment id (everything before the last dash). */
export function appOfDeploymentId(id: string): string {
  return id.slice(0, id.lastIndexOf('-'));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON bytes of a record. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses the JSON bytes stored under `key`. */
export function decodeJson(key: string, value: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(value)) as unknown;
  } catch (err) {
    throw new FlotillaError('FLOTILLA_ERR_INTERNAL', `control store key ${key} is not valid JSON`, {
      cause: err,
    });
  }
}

function decodeRecord<S extends v.GenericSchema>(
  schema: S,
  key: string,
  value: Uint8Array,
  what: string,
): v.InferOutput<S> {
  return parseOrThrow(schema, decodeJson(key, value), '', (_field, _problem, said) => {
    return new FlotillaError(
      'FLOTILLA_ERR_INTERNAL',
      `control store key ${key} is not ${what}: ${said}`,
    );
  });
}

/** The deployment record stored under `key`. */
export function decodeDeployment(key: string, value: Uint8Array): DeploymentRecord {
  return decodeRecord(DeploymentRecordSchema, key, value, 'a deployment');
}

/** The environment record stored under `key`, carrying the store revision. */
export function decodeEnvironment(
  key: string,
  value: Uint8Array,
  revision: number,
): EnvironmentRecord {
  const record = decodeRecord(EnvironmentRecordSchema, key, value, 'an environment');
  // Absent optional fields stay absent (a fallback would set them to undefined).
  for (const field of ['primaryRegion', 'secondaryRegion', 'split', 'splitRules'] as const) {
    if (record[field] === undefined) delete record[field];
  }
  return { ...record, revision };
}

/** The bytes stored for an environment (the revision is the store's, not stored). */
export function encodeEnvironment(
  record: Omit<EnvironmentRecord, 'revision' | 'secrets'> &
    Partial<Pick<EnvironmentRecord, 'secrets'>>,
): Uint8Array {
  const {
    app,
    env,
    deploymentId,
    history,
    primaryRegion,
    secondaryRegion,
    backends,
    vars,
    secrets = {},
    split,
    splitRules,
  } = record;
  return encodeJson({
    app,
    env,
    deploymentId,
    history,
    ...(primaryRegion === undefined ? {} : { primaryRegion }),
    ...(secondaryRegion === undefined ? {} : { secondaryRegion }),
    backends,
    vars,
    ...(Object.keys(secrets).length === 0 ? {} : { secrets }),
    ...(split === undefined || split.length === 0 ? {} : { split }),
    ...(splitRules === undefined || splitRules.length === 0 ? {} : { splitRules }),
    updatedAt: record.updatedAt,
  });
}
