/**
 * The control plane's checks of what a caller asks for: names that become
 * KV keys and subject tokens, and environment patches (regions, backend
 * origins, variables, split tests). Each is a schema; a bad value throws
 * `InvalidOptionError` naming the field (`option "split[1].percent" …`).
 *
 * @module
 */
import {
  InvalidOptionError,
  isSubjectToken,
  SplitRulesSchema,
  splitTargetLabel,
} from '@flotilla/protocol';
import { DEPLOYMENT_ID, DESTINATION_NAME } from '@flotilla/protocol/patterns';
import {
  isPlainObject,
  type Message,
  normalizeOrigin,
  parseOrThrow,
  strictObject,
  table,
} from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { MAX_SPLIT, type SplitEntry } from './records.ts';
import { SecretEnvelopeSchema } from './secret-envelope.ts';

/** `<problem>, got <the value as JSON>`, the style of control-plane messages. */
const gotJson =
  (problem: string): Message =>
  (issue) =>
    `${problem}, got ${JSON.stringify(issue.input)}`;

const TOKEN_PROBLEM = gotJson('must be 1-63 lower-case letters, digits and dashes');

/** An app, environment or region name: a subject token (it is part of KV keys and subjects). */
const TokenSchema = v.custom<string>(isSubjectToken, TOKEN_PROBLEM);

/**
 * `value` as an app, environment or region name.
 * @throws InvalidOptionError naming `option`
 */
export function checkToken(option: string, value: unknown): string {
  return parseOrThrow(TokenSchema, value, option, (field, problem) => {
    return new InvalidOptionError(field, problem);
  });
}

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const VarNameSchema = v.pipe(
  v.string(),
  v.regex(VAR_NAME, 'is not a variable name (letters, digits and _, not starting with a digit)'),
);

const SplitEntrySchema = v.pipe(
  v.custom<Record<string, unknown>>(
    isPlainObject,
    () => 'must be an object { deploymentId, percent }',
  ),
  v.object({
    deploymentId: v.pipe(
      v.string(gotJson('must be a deployment id (<app>-<12 hex>)')),
      v.regex(DEPLOYMENT_ID, gotJson('must be a deployment id (<app>-<12 hex>)')),
    ),
    percent: v.pipe(
      v.number(gotJson('must be a whole percent from 1 to 100')),
      v.integer(gotJson('must be a whole percent from 1 to 100')),
      v.minValue(1, gotJson('must be a whole percent from 1 to 100')),
      v.maxValue(100, gotJson('must be a whole percent from 1 to 100')),
    ),
    destination: v.optional(
      v.pipe(
        v.string(gotJson('must be a destination name')),
        v.regex(DESTINATION_NAME, gotJson('must be 1-64 letters, digits, "_" or "-"')),
      ),
    ),
  }),
);

/** A split test: 2–{@link MAX_SPLIT} distinct deployments, whole percents summing to 100. */
const SplitSchema = v.pipe(
  v.array(v.unknown(), () => 'must be a list of { deploymentId, percent } (or null)'),
  v.check(
    (split) => split.length >= 2 && split.length <= MAX_SPLIT,
    (issue) =>
      `must list 2 to ${MAX_SPLIT} deployments, got ${(issue.input as unknown[]).length} (promote a deployment to serve it alone)`,
  ),
  v.array(SplitEntrySchema),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const seen = new Set<string>();
    for (const [i, entry] of dataset.value.entries()) {
      const { deploymentId } = entry;
      const label = splitTargetLabel(entry);
      if (seen.has(label)) {
        addIssue({
          message: `${label} is listed twice`,
          path: [
            { type: 'array', origin: 'value', input: dataset.value, key: i, value: entry },
            {
              type: 'object',
              origin: 'value',
              input: entry,
              key: 'deploymentId',
              value: deploymentId,
            },
          ],
        });
        return;
      }
      seen.add(label);
    }
  }),
  v.check(
    (split) => split.reduce((sum, e) => sum + e.percent, 0) === 100,
    (issue) => {
      const percents = (issue.input as SplitEntry[]).map((e) => e.percent);
      return `percents must add up to 100, got ${percents.join(' + ')} = ${percents.reduce((a, b) => a + b, 0)}`;
    },
  ),
);

/**
 * Changes to an environment's settings. `null` removes a region, a backend
 * override or a variable; keys not mentioned are kept.
 */
export const EnvironmentPatchSchema = strictObject(
  {
    /** Region serving the environment first (a subject token). */
    primaryRegion: v.optional(v.nullable(TokenSchema)),
    /** Region taking over when the primary is down (a subject token). */
    secondaryRegion: v.optional(v.nullable(TokenSchema)),
    /** Backend name declared by the current deployment's manifest → origin (`https://host:port`). */
    backends: v.optional(
      table(
        v.string(),
        v.nullable(
          v.pipe(
            v.custom<string>(
              (origin) => normalizeOrigin(origin) !== undefined,
              gotJson(
                'must be an http(s) origin (scheme, host, port; no path, query or credentials)',
              ),
            ),
            v.transform((origin) => normalizeOrigin(origin) as string),
          ),
        ),
        () => 'must be an object of backend name → origin',
      ),
    ),
    /** Environment variable name (`[A-Za-z_][A-Za-z0-9_]*`) → value. */
    vars: v.optional(
      table(
        VarNameSchema,
        v.nullable(v.string(() => 'must be a string (or null to remove it)')),
        () => 'must be an object of variable name → string',
      ),
    ),
    /**
     * Secret variable name → envelope sealed to the fleet's secrets key
     * (`sealSecret`; the control plane never sees the value). Setting a
     * secret removes a plain variable of the same name and vice versa.
     */
    secrets: v.optional(
      table(
        VarNameSchema,
        v.nullable(
          v.pipe(
            v.custom<Record<string, unknown>>(
              isPlainObject,
              () => 'must be a sealed secret { v, kid, epk, iv, ct } (or null to remove it)',
            ),
            SecretEnvelopeSchema,
          ),
        ),
        () => 'must be an object of variable name → sealed secret',
      ),
    ),
    /**
     * Split test over deployments of the environment's app (2–10 entries,
     * whole percents 1–100 summing to 100, each deployment once), which must
     * include the deployment the environment serves; `null` ends the split
     * test.
     */
    split: v.optional(v.nullable(SplitSchema)),
    /**
     * Split-test rules (first match wins), each with criteria and a split
     * of its own over deployments of the app and their router destinations;
     * `null` ends them.
     */
    splitRules: v.optional(v.nullable(SplitRulesSchema)),
  },
  { notObject: 'must be an object' },
);

/** Changes to an environment's settings ({@link EnvironmentPatchSchema}). */
export type EnvironmentPatch = v.InferOutput<typeof EnvironmentPatchSchema>;

/**
 * The patch, checked, with origins normalized.
 * @throws InvalidOptionError naming the bad field
 */
export function checkPatch(patch: unknown): EnvironmentPatch {
  return parseOrThrow(EnvironmentPatchSchema, patch, '', (field, problem) => {
    if (field === '') return new InvalidOptionError('patch', problem);
    // An unknown setting names itself.
    if (problem.startsWith('is not a known field') && !/[.[]/.test(field)) {
      return new InvalidOptionError(
        field,
        'is not a setting of an environment (primaryRegion, secondaryRegion, backends, vars, secrets, split, splitRules)',
      );
    }
    return new InvalidOptionError(field, problem);
  });
}

/**
 * Secrets re-encrypted to another key (`flotilla secrets-key rotate`):
 * variable name → the envelope it replaces and the new one. A name whose
 * stored envelope is no longer `from` (set again meanwhile) is left alone.
 */
export const SecretRewrapsSchema = table(
  VarNameSchema,
  strictObject(
    { from: SecretEnvelopeSchema, to: SecretEnvelopeSchema },
    { notObject: 'must be { from, to } sealed secrets' },
  ),
  () => 'must be an object of variable name → { from, to }',
);

/** Secrets re-encrypted to another key ({@link SecretRewrapsSchema}). */
export type SecretRewraps = v.InferOutput<typeof SecretRewrapsSchema>;

/**
 * The rewraps, checked.
 * @throws InvalidOptionError naming the bad field
 */
export function checkRewraps(rewraps: unknown): SecretRewraps {
  return parseOrThrow(SecretRewrapsSchema, rewraps, 'rewraps', (field, problem) => {
    return new InvalidOptionError(field, problem);
  });
}
