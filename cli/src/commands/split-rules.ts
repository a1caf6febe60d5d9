/**
 * The split-test syntax of `flotilla split set`: targets
 * (`<deployment-id>[:<destination>]=<percent>`) and rules
 * (`--rule '<criterion>[&<criterion>…] -> <target>,…'`), parsed into the
 * control plane's patch and checked there by the shared schemas.
 *
 * @module
 */
import { InvalidOptionError, type SplitCriteria, type SplitRule } from '@flotilla/protocol';

/** One target of a split as the command line gives it. */
export interface TargetArg {
  deploymentId: string;
  destination?: string;
  percent: number;
}

const TARGET = /^([^=:\s]+)(?::([^=\s]+))?=(\d+)%?$/;

/**
 * `<deployment-id>[:<destination>]=<percent>` as a split target.
 * @throws InvalidOptionError naming `option` and the item
 */
export function parseTarget(option: string, item: string): TargetArg {
  const match = TARGET.exec(item.trim());
  if (!match) {
    throw new InvalidOptionError(
      option,
      `"${item}" must be <deployment-id>[:<destination>]=<whole percent>, e.g. shop-3f2a1b9c0d1e=90 or shop-3f2a1b9c0d1e:new_experience=10`,
    );
  }
  return {
    deploymentId: match[1] as string,
    ...(match[2] !== undefined ? { destination: match[2] } : {}),
    percent: Number(match[3]),
  };
}

/** `name` or `name=value`. */
function namedValue(text: string): { name: string; value?: string } {
  const eq = text.indexOf('=');
  return eq === -1 ? { name: text } : { name: text.slice(0, eq), value: text.slice(eq + 1) };
}

/**
 * One `--rule`: `<criteria> -> <targets>`, criteria joined with `&` (all
 * must hold): `cookie:<name>[=<value>]`, `header:<name>[=<value>]`,
 * `device:<class>[|<class>…]`, `country:<CC>[|<CC>…]`; targets as
 * {@link parseTarget}, joined with `,`. The shapes are checked by the
 * control plane's schema; this only splits the text.
 *
 * @example parseRule("header:x-beta=1&device:smartphone|tablet -> shop-77aa01bc22de:beta=100")
 * @throws InvalidOptionError naming `--rule` and what is wrong
 */
export function parseRule(text: string): SplitRule {
  const arrow = text.indexOf('->');
  if (arrow === -1) {
    throw new InvalidOptionError(
      '--rule',
      `"${text}" must be <criteria> -> <targets>, e.g. 'cookie:beta=1 -> shop-77aa01bc22de=100'`,
    );
  }
  const when: Record<string, unknown> = {};
  for (const raw of text.slice(0, arrow).split('&')) {
    const part = raw.trim();
    const colon = part.indexOf(':');
    const kind = colon === -1 ? part : part.slice(0, colon);
    const rest = colon === -1 ? '' : part.slice(colon + 1).trim();
    if (rest === '' || !['cookie', 'header', 'device', 'country'].includes(kind)) {
      throw new InvalidOptionError(
        '--rule',
        `criterion "${part}" must be cookie:<name>[=<value>], header:<name>[=<value>], device:<class>[|<class>…] or country:<CC>[|<CC>…]`,
      );
    }
    if (when[kind] !== undefined) {
      throw new InvalidOptionError('--rule', `"${text}" names ${kind} twice`);
    }
    when[kind] =
      kind === 'cookie' || kind === 'header'
        ? namedValue(rest)
        : rest.split('|').map((x) => x.trim());
  }
  const targets = text
    .slice(arrow + 2)
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (targets.length === 0) {
    throw new InvalidOptionError('--rule', `"${text}" names no target after "->"`);
  }
  return {
    when: when as SplitCriteria,
    split: targets.map((t) => parseTarget('--rule', t)),
  };
}

/** A rule as one line of text (the syntax {@link parseRule} reads). */
export function ruleText(rule: SplitRule): string {
  const when: string[] = [];
  const { cookie, header, device, country } = rule.when;
  for (const [kind, c] of [
    ['cookie', cookie],
    ['header', header],
  ] as const) {
    if (c) when.push(`${kind}:${c.name}${c.value !== undefined ? `=${c.value}` : ''}`);
  }
  if (device) when.push(`device:${device.join('|')}`);
  if (country) when.push(`country:${country.join('|')}`);
  return `${when.join('&')} -> ${targetsText(rule.split, '=')}`;
}

/** Targets as text: `id[:dest]=90, …` (`sep` `=`), or `id[:dest] 90%, …` (`sep` ` `). */
export function targetsText(
  targets: ReadonlyArray<{ deploymentId: string; destination?: string; percent: number }>,
  sep: '=' | ' ' = ' ',
): string {
  return targets
    .map(
      (t) =>
        `${t.deploymentId}${t.destination !== undefined ? `:${t.destination}` : ''}${sep}${t.percent}${sep === ' ' ? '%' : ''}`,
    )
    .join(sep === '=' ? ',' : ', ');
}
