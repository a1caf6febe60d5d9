import { FlotillaError } from '@flotilla/protocol';

/**
 * The records the control plane keeps in its KV bucket, and their keys:
 * `deployment.<id>` (immutable), `manifest.<id>` (immutable) and
 * `env.<app>.<env>` (compare-and-set updated).
 *
 * @module
 */

/** An immutable, content-addressed deployment (`deployment.<id>`). */
export interface DeploymentRecord {
  /** `<app>-<first 12 hex of manifest.contentHash>`. */
  id: string;
  /** App name (the manifest's `name`). */
  app: string;
  /** The manifest's `contentHash`. */
  contentHash: string;
  /** sha256 of `bundle.js`, hex. */
  bundleHash: string;
  /** The manifest's `framework`. */
  framework: string;
  bundleBytes: number;
  assetCount: number;
  /** ISO 8601 time of the first publish. */
  createdAt: string;
  /** The environment the first publish promoted it to, if any. */
  publishedFor?: string;
}

/** One deployment of an environment's split test and its share of new visitors. */
export interface SplitEntry {
  deploymentId: string;
  /** Whole percent of new visitors, 1–100; the entries of a split sum to 100. */
  percent: number;
}

/** Which deployment an environment of an app serves, and its settings (`env.<app>.<env>`). */
export interface EnvironmentRecord {
  app: string;
  env: string;
  deploymentId: string;
  /** Earlier deployment ids, newest first, at most 20 (rollback pops the first). */
  history: string[];
  /** Region serving the environment first, if set. */
  primaryRegion?: string;
  /** Region taking over when the primary is down, if set. */
  secondaryRegion?: string;
  /** Backend name (declared by the manifest) → origin replacing the manifest's default. */
  backends: Record<string, string>;
  /** Environment variables / secrets the handler sees as `env`. */
  vars: Record<string, string>;
  /**
   * Split test: visitors are spread over these deployments by percentage
   * (sticky through a cookie). It always includes `deploymentId` (the
   * deployment the environment serves, which previews, rollbacks and backend
   * checks refer to); a promote or rollback to another deployment ends it.
   * Absent when every visitor gets `deploymentId`.
   */
  split?: SplitEntry[];
  /** ISO 8601 time of the last change. */
  updatedAt: string;
  /** Store revision of this version of the record (compare-and-set token). */
  revision: number;
}

/** Most earlier deployments an environment remembers. */
export const MAX_HISTORY = 20;

/** Most deployments one split test spreads visitors over. */
export const MAX_SPLIT = 10;

/** Lower-case letters, digits and dashes, 1–63, starting with a letter or digit. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** `<app>-<12 hex>`. */
export const DEPLOYMENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}-[0-9a-f]{12}$/;

/** KV key of a deployment record. */
export function deploymentKey(id: string): string {
  return `deployment.${id}`;
}

/** KV key of a deployment's manifest. */
export function manifestKey(id: string): string {
  return `manifest.${id}`;
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

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A stored split: kept only when every entry has the right shape. */
function splitOf(value: unknown): SplitEntry[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const entries: SplitEntry[] = [];
  for (const e of value) {
    if (!isObject(e) || typeof e.deploymentId !== 'string' || typeof e.percent !== 'number') {
      return undefined;
    }
    entries.push({ deploymentId: e.deploymentId, percent: e.percent });
  }
  return entries;
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** The deployment record stored under `key`. */
export function decodeDeployment(key: string, value: Uint8Array): DeploymentRecord {
  const v = decodeJson(key, value);
  if (!isObject(v) || typeof v.id !== 'string' || typeof v.bundleHash !== 'string') {
    throw new FlotillaError(
      'FLOTILLA_ERR_INTERNAL',
      `control store key ${key} is not a deployment`,
    );
  }
  return v as unknown as DeploymentRecord;
}

/** The environment record stored under `key`, carrying the store revision. */
export function decodeEnvironment(
  key: string,
  value: Uint8Array,
  revision: number,
): EnvironmentRecord {
  const v = decodeJson(key, value);
  if (!isObject(v) || typeof v.deploymentId !== 'string' || typeof v.app !== 'string') {
    throw new FlotillaError(
      'FLOTILLA_ERR_INTERNAL',
      `control store key ${key} is not an environment`,
    );
  }
  const record: EnvironmentRecord = {
    app: v.app,
    env: String(v.env),
    deploymentId: v.deploymentId,
    history: Array.isArray(v.history)
      ? v.history.filter((h): h is string => typeof h === 'string')
      : [],
    backends: stringMap(v.backends),
    vars: stringMap(v.vars),
    updatedAt: String(v.updatedAt),
    revision,
  };
  if (typeof v.primaryRegion === 'string') record.primaryRegion = v.primaryRegion;
  if (typeof v.secondaryRegion === 'string') record.secondaryRegion = v.secondaryRegion;
  const split = splitOf(v.split);
  if (split !== undefined) record.split = split;
  return record;
}

/** The bytes stored for an environment (the revision is the store's, not stored). */
export function encodeEnvironment(record: Omit<EnvironmentRecord, 'revision'>): Uint8Array {
  const { app, env, deploymentId, history, primaryRegion, secondaryRegion, backends, vars, split } =
    record;
  return encodeJson({
    app,
    env,
    deploymentId,
    history,
    ...(primaryRegion === undefined ? {} : { primaryRegion }),
    ...(secondaryRegion === undefined ? {} : { secondaryRegion }),
    backends,
    vars,
    ...(split === undefined || split.length === 0 ? {} : { split }),
    updatedAt: record.updatedAt,
  });
}
