/**
 * Checks of the control plane's arguments: names, the preview domain, and
 * environment patches (regions, backends, variables, split tests). Each
 * error names the option.
 */
import { InvalidOptionError, normalizeOrigin } from '@flotilla/protocol';
import { DEPLOYMENT_ID_PATTERN, MAX_SPLIT, NAME_PATTERN, type SplitEntry } from './records.ts';

/**
 * Changes to an environment's settings. `null` removes a region, a backend
 * override or a variable; keys not mentioned are kept.
 */
export interface EnvironmentPatch {
  /** Region serving the environment first (a subject token). */
  primaryRegion?: string | null;
  /** Region taking over when the primary is down (a subject token). */
  secondaryRegion?: string | null;
  /** Backend name declared by the current deployment's manifest → origin (`https://host:port`). */
  backends?: Record<string, string | null>;
  /** Environment variable name (`[A-Za-z_][A-Za-z0-9_]*`) → value. */
  vars?: Record<string, string | null>;
  /**
   * Split test over deployments of the environment's app (2–10 entries,
   * whole percents 1–100 summing to 100, each deployment once), which must
   * include the deployment the environment serves; `null` ends the split
   * test. See {@link EnvironmentRecord.split}.
   */
  split?: SplitEntry[] | null;
}

/** A lower-case DNS host name (the preview domain). */
export const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const PATCH_KEYS = new Set(['primaryRegion', 'secondaryRegion', 'backends', 'vars', 'split']);

/** `value` as a name (an app, an environment, a region): 1-63 of a-z, 0-9 and dashes. */
export function token(option: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new InvalidOptionError(
      option,
      `must be 1-63 lower-case letters, digits and dashes, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The shape of a split: 2–{@link MAX_SPLIT} distinct deployments, whole percents summing to 100. */
function checkSplit(split: unknown): SplitEntry[] {
  if (!Array.isArray(split)) {
    throw new InvalidOptionError('split', 'must be a list of { deploymentId, percent } (or null)');
  }
  if (split.length < 2 || split.length > MAX_SPLIT) {
    throw new InvalidOptionError(
      'split',
      `must list 2 to ${MAX_SPLIT} deployments, got ${split.length} (promote a deployment to serve it alone)`,
    );
  }
  const seen = new Set<string>();
  let total = 0;
  const out = split.map((entry: unknown, i): SplitEntry => {
    if (!isPlainObject(entry)) {
      throw new InvalidOptionError(`split[${i}]`, 'must be an object { deploymentId, percent }');
    }
    const { deploymentId, percent } = entry;
    if (typeof deploymentId !== 'string' || !DEPLOYMENT_ID_PATTERN.test(deploymentId)) {
      throw new InvalidOptionError(
        `split[${i}].deploymentId`,
        `must be a deployment id (<app>-<12 hex>), got ${JSON.stringify(deploymentId)}`,
      );
    }
    if (seen.has(deploymentId)) {
      throw new InvalidOptionError(`split[${i}].deploymentId`, `${deploymentId} is listed twice`);
    }
    seen.add(deploymentId);
    if (typeof percent !== 'number' || !Number.isInteger(percent) || percent < 1 || percent > 100) {
      throw new InvalidOptionError(
        `split[${i}].percent`,
        `must be a whole percent from 1 to 100, got ${JSON.stringify(percent)}`,
      );
    }
    total += percent;
    return { deploymentId, percent };
  });
  if (total !== 100) {
    throw new InvalidOptionError(
      'split',
      `percents must add up to 100, got ${out.map((e) => e.percent).join(' + ')} = ${total}`,
    );
  }
  return out;
}

/** `patch` checked, its origins normalized. */
export function checkPatch(patch: EnvironmentPatch): EnvironmentPatch {
  if (!isPlainObject(patch)) throw new InvalidOptionError('patch', 'must be an object');
  for (const key of Object.keys(patch)) {
    if (!PATCH_KEYS.has(key)) {
      throw new InvalidOptionError(
        key,
        'is not a setting of an environment (primaryRegion, secondaryRegion, backends, vars, split)',
      );
    }
  }
  const out: EnvironmentPatch = {};
  for (const field of ['primaryRegion', 'secondaryRegion'] as const) {
    const value = patch[field];
    if (value === undefined) continue;
    out[field] = value === null ? null : token(field, value);
  }
  if (patch.backends !== undefined) {
    if (!isPlainObject(patch.backends)) {
      throw new InvalidOptionError('backends', 'must be an object of backend name → origin');
    }
    out.backends = {};
    for (const [name, origin] of Object.entries(patch.backends)) {
      if (origin === null) {
        out.backends[name] = null;
        continue;
      }
      const normalized = normalizeOrigin(origin);
      if (normalized === undefined) {
        throw new InvalidOptionError(
          `backends.${name}`,
          `must be an http(s) origin (scheme, host, port; no path, query or credentials), got ${JSON.stringify(origin)}`,
        );
      }
      out.backends[name] = normalized;
    }
  }
  if (patch.vars !== undefined) {
    if (!isPlainObject(patch.vars)) {
      throw new InvalidOptionError('vars', 'must be an object of variable name → string');
    }
    out.vars = {};
    for (const [name, value] of Object.entries(patch.vars)) {
      if (!VAR_NAME.test(name)) {
        throw new InvalidOptionError(
          `vars.${name}`,
          'is not a variable name (letters, digits and _, not starting with a digit)',
        );
      }
      if (value !== null && typeof value !== 'string') {
        throw new InvalidOptionError(`vars.${name}`, 'must be a string (or null to remove it)');
      }
      out.vars[name] = value;
    }
  }
  if (patch.split !== undefined) out.split = patch.split === null ? null : checkSplit(patch.split);
  return out;
}
