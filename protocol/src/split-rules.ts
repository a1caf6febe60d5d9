/**
 * Split-test rules of an environment (the control plane's
 * `EnvironmentRecord.splitRules`, set with `flotilla split set --rule …`):
 * each rule has criteria (cookie, header, device class, country) and a
 * split of its own over deployments and their router destinations; the
 * first rule whose criteria all match a request decides, and a request no
 * rule matches gets the environment's percentage `split` (or its
 * deployment). One schema, shared by the control plane (which checks what
 * it is asked to store) and the shield (which reads it back).
 *
 * @module
 */
import * as v from 'valibot';
import { DEPLOYMENT_ID, DESTINATION_NAME, HTTP_TOKEN, UNSAFE_HEADER_VALUE } from './patterns.ts';
import { got, strictObject } from './schema.ts';

/** Device classes a rule may name (the shield's classes of the `User-Agent`). */
export const SPLIT_DEVICES = Object.freeze(['smartphone', 'tablet', 'mobile', 'desktop'] as const);

/** Most rules an environment holds. */
export const MAX_SPLIT_RULES = 20;

/** Most targets one split (or one rule's split) spreads visitors over. */
export const MAX_SPLIT_TARGETS = 10;

const WHOLE_PERCENT = got('must be a whole percent from 1 to 100');

/** One target of a split: a deployment, optionally one of its router destinations, and its share. */
export const SplitTargetSchema = strictObject({
  deploymentId: v.pipe(
    v.string(got('must be a deployment id (<app>-<12 hex>)')),
    v.regex(DEPLOYMENT_ID, got('must be a deployment id (<app>-<12 hex>)')),
  ),
  /** A destination of the deployment's router (`router.destination(name, …)`). */
  destination: v.optional(
    v.pipe(
      v.string(got('must be a destination name')),
      v.regex(DESTINATION_NAME, got('must be 1-64 letters, digits, "_" or "-"')),
    ),
  ),
  /** Whole percent of the visitors this split applies to, 1–100. */
  percent: v.pipe(
    v.number(WHOLE_PERCENT),
    v.integer(WHOLE_PERCENT),
    v.minValue(1, WHOLE_PERCENT),
    v.maxValue(100, WHOLE_PERCENT),
  ),
});

/** One target of a split ({@link SplitTargetSchema}). */
export type SplitTarget = v.InferOutput<typeof SplitTargetSchema>;

/** The label of a target: its cookie value and its part of the cache key. */
export function splitTargetLabel(target: { deploymentId: string; destination?: string }): string {
  return target.destination === undefined
    ? target.deploymentId
    : `${target.deploymentId}.${target.destination}`;
}

/** A split: 1–10 distinct targets whose percents add up to 100. */
export const RuleSplitSchema = v.pipe(
  v.array(SplitTargetSchema, got('must be a list of { deploymentId, destination?, percent }')),
  v.check(
    (targets) => targets.length >= 1 && targets.length <= MAX_SPLIT_TARGETS,
    got(`must list 1 to ${MAX_SPLIT_TARGETS} targets`),
  ),
  v.check(
    (targets) => new Set(targets.map(splitTargetLabel)).size === targets.length,
    (issue) =>
      `lists a target twice (${(issue.input as SplitTarget[]).map(splitTargetLabel).join(', ')})`,
  ),
  v.check(
    (targets) => targets.reduce((sum, t) => sum + t.percent, 0) === 100,
    (issue) => {
      const percents = (issue.input as SplitTarget[]).map((t) => t.percent);
      return `percents must add up to 100, got ${percents.join(' + ')} = ${percents.reduce((a, b) => a + b, 0)}`;
    },
  ),
);

/** `name` alone (present), or `name` and an exact value. */
const namedValue = (what: string, lowerCase: boolean) =>
  strictObject({
    name: v.pipe(
      v.string(got(`must be a ${what} name`)),
      v.regex(HTTP_TOKEN, got(`must be a ${what} name`)),
      v.transform((n) => (lowerCase ? n.toLowerCase() : n)),
    ),
    value: v.optional(
      v.pipe(
        v.string(got('must be a string')),
        v.check((s) => !UNSAFE_HEADER_VALUE.test(s), got('must not contain CR, LF or NUL')),
      ),
    ),
  });

/** What a rule matches on; every criterion given must hold (at least one). */
export const SplitCriteriaSchema = v.pipe(
  strictObject({
    /** The cookie is present (with exactly `value`, when given). */
    cookie: v.optional(namedValue('cookie', false)),
    /** The header is present (with exactly `value`, when given). */
    header: v.optional(namedValue('header', true)),
    /** The device class is one of these. */
    device: v.optional(
      v.pipe(
        v.array(v.picklist(SPLIT_DEVICES, got(`must be one of ${SPLIT_DEVICES.join(', ')}`))),
        v.minLength(1, got('must list at least one device class')),
      ),
    ),
    /** The country (ISO 3166-1 alpha-2, from the front door's trusted geo header) is one of these. */
    country: v.optional(
      v.pipe(
        v.array(
          v.pipe(
            v.string(got('must be a two-letter country code')),
            v.regex(/^[A-Za-z]{2}$/, got('must be a two-letter country code')),
            v.transform((c) => c.toUpperCase()),
          ),
        ),
        v.minLength(1, got('must list at least one country')),
      ),
    ),
  }),
  v.check(
    (c) => Object.values(c).some((x) => x !== undefined),
    'must have at least one criterion (cookie, header, device, country)',
  ),
);

/** What a rule matches on ({@link SplitCriteriaSchema}). */
export type SplitCriteria = v.InferOutput<typeof SplitCriteriaSchema>;

/** One rule: criteria, and the split of the requests they match. */
export const SplitRuleSchema = strictObject({
  when: SplitCriteriaSchema,
  split: RuleSplitSchema,
});

/** One split-test rule ({@link SplitRuleSchema}). */
export type SplitRule = v.InferOutput<typeof SplitRuleSchema>;

/** An environment's rules, in order (the first match wins): 1–20 of them. */
export const SplitRulesSchema = v.pipe(
  v.array(SplitRuleSchema, got('must be a list of rules { when, split } (or null)')),
  v.minLength(1, got('must list at least one rule (null ends them)')),
  v.maxLength(MAX_SPLIT_RULES, got(`must list at most ${MAX_SPLIT_RULES} rules`)),
);
