/**
 * Split tests: an environment whose record has a `split` (or `splitRules`)
 * sends each visitor to one of several deployments, or router destinations
 * of a deployment, by rule and percentage, and keeps them there through a
 * cookie.
 *
 * @module
 */
import {
  InvalidOptionError,
  isSubjectToken,
  nonNegativeInt,
  type SplitRule,
  splitTargetLabel,
} from '@flotilla/protocol';
// One prefix: the cookies the front door lets through are the ones split tests set.
import { SPLIT_COOKIE_PREFIX } from './front-door/upstream-headers.ts';

export { SPLIT_COOKIE_PREFIX };

/** One destination of a split (as in the control plane's `EnvironmentRecord.split`). */
export interface SplitEntry {
  deploymentId: string;
  /** A destination of the deployment's router (`router.destination(name, …)`), if any. */
  destination?: string;
  /** Share of new visitors, whole percent (the entries of a split sum to 100). */
  percent: number;
}

/** Where a visitor goes. */
export interface SplitAssignment {
  /** The deployment to serve. */
  deploymentId: string;
  /**
   * The destination label: part of the cache key (`splitDestination` of
   * `computeCacheKey`) and the value of the cookie: the deployment id, and
   * `.<router destination>` when the target names one.
   */
  destination: string;
  /** The router destination (`router.destination(name, …)`) the target names, if any. */
  routerDestination?: string;
  /** Index of the rule that decided (absent: the environment's percentage split). */
  rule?: number;
  /** `Set-Cookie` value to add to the response when the visitor was (re)assigned. */
  setCookie?: string;
}

/** What {@link SplitAssigner.assign} needs. */
export interface SplitRequest {
  app: string;
  environment: string;
  /**
   * The environment's percentage split (non-empty), or, with `rules`, absent
   * for "everyone else gets `deploymentId`".
   */
  split: readonly SplitEntry[] | undefined;
  /** The environment's rules, in order: the first whose criteria all match decides. @default [] */
  rules?: readonly SplitRule[] | undefined;
  /** The deployment the environment serves (what no rule and no split sends elsewhere). */
  deploymentId?: string;
  /** The request's `Cookie` header(s), if any. */
  cookieHeader?: string | readonly string[] | null;
  /** The request's headers, lower-case names, for header rules. @default {} */
  headers?: Readonly<Record<string, string>>;
  /** The request's device class, for device rules. */
  device?: string;
  /** The request's country (ISO 3166-1 alpha-2, trusted geo), for country rules. */
  country?: string;
  /** Draws a number in [0, 1) for a new visitor. @default the assigner's `random` */
  random?: () => number;
}

/** Options of {@link SplitAssigner}. */
export interface SplitAssignerOptions {
  /** Draws a number in [0, 1). @default Math.random */
  random?: () => number;
  /**
   * Lifetime of the cookie, seconds (0: a session cookie).
   * @default 2592000 (30 days)
   */
  cookieMaxAgeSeconds?: number;
  /**
   * Adds `Secure` to the cookie (set it when visitors come over HTTPS).
   * @default false
   */
  secure?: boolean;
  /**
   * Adds `HttpOnly` to the cookie (turn it off to let page scripts report the variant).
   * @default true
   */
  httpOnly?: boolean;
}

/** The cookie holding a visitor's destination in environment `environment` of `app`. */
export function splitCookieName(app: string, environment: string): string {
  return `${SPLIT_COOKIE_PREFIX}${app}_${environment}`;
}

/** True for the name of a split-test cookie (see {@link SPLIT_COOKIE_PREFIX}). */
export function isSplitCookie(name: string): boolean {
  return name.startsWith(SPLIT_COOKIE_PREFIX);
}

/** The value of cookie `name` in `Cookie` header(s), `undefined` when absent. */
function cookieValue(header: string | readonly string[] | null | undefined, name: string) {
  if (header === undefined || header === null) return undefined;
  for (const line of typeof header === 'string' ? [header] : header) {
    for (const part of line.split(';')) {
      const eq = part.indexOf('=');
      if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
      let value = part.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1);
      }
      return value;
    }
  }
  return undefined;
}

/**
 * Assigns visitors to the deployments of an environment's split: a visitor
 * whose cookie `flotilla_split_<app>_<env>` names a deployment of the split
 * stays there (sticky, no new cookie); a new visitor, or one whose cookie
 * names a deployment no longer in the split, is drawn by percentage and gets
 * the cookie. The destination (the deployment id) goes into the cache key,
 * so the variants are cached apart.
 *
 * @example
 * const assigner = new SplitAssigner({ secure: true });
 * const { deploymentId, destination, setCookie } = assigner.assign({
 *   app: 'shop', environment: 'production', split: env.split, cookieHeader: req.headers.cookie,
 * });
 */
export class SplitAssigner {
  readonly #random: () => number;
  readonly #attributes: string;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: SplitAssignerOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'must be an object');
    }
    if (options.random !== undefined && typeof options.random !== 'function') {
      throw new InvalidOptionError('random', 'must be a function returning a number in [0, 1)');
    }
    this.#random = options.random ?? Math.random;
    const maxAge = nonNegativeInt('cookieMaxAgeSeconds', options.cookieMaxAgeSeconds, 2_592_000);
    for (const flag of ['secure', 'httpOnly'] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
        throw new InvalidOptionError(flag, 'must be a boolean');
      }
    }
    this.#attributes = [
      'Path=/',
      ...(maxAge > 0 ? [`Max-Age=${maxAge}`] : []),
      'SameSite=Lax',
      ...(options.secure === true ? ['Secure'] : []),
      ...(options.httpOnly === false ? [] : ['HttpOnly']),
    ].join('; ');
  }

  /**
   * The deployment (and router destination) a request goes to: the first
   * rule whose criteria all match picks from its own split, else the
   * environment's split. A visitor whose cookie names a target of that
   * split stays there (sticky, no new cookie); anyone else is drawn by
   * percentage and gets the cookie.
   * @throws InvalidOptionError when the split is empty or malformed, or `app`
   *   / `environment` is not a name
   */
  assign(request: SplitRequest): SplitAssignment {
    const { app, environment } = request;
    if (!isSubjectToken(app)) throw new InvalidOptionError('app', 'must be an app name');
    if (!isSubjectToken(environment)) {
      throw new InvalidOptionError('environment', 'must be an environment name');
    }
    const rules = request.rules ?? [];
    const ruleIndex = rules.findIndex((r) => ruleMatches(r, request));
    const split: readonly SplitEntry[] | undefined =
      ruleIndex === -1 ? request.split : (rules[ruleIndex] as SplitRule).split;
    if ((split === undefined || split.length === 0) && rules.length > 0 && request.deploymentId) {
      // No rule matched and no percentage split: the environment's deployment, no cookie.
      return { deploymentId: request.deploymentId, destination: request.deploymentId };
    }
    if (!Array.isArray(split) || split.length === 0) {
      throw new InvalidOptionError('split', 'must list at least one deployment');
    }
    let total = 0;
    for (const [i, entry] of split.entries()) {
      if (typeof entry?.deploymentId !== 'string' || entry.deploymentId === '') {
        throw new InvalidOptionError(`split[${i}].deploymentId`, 'must be a deployment id');
      }
      if (typeof entry.percent !== 'number' || !(entry.percent >= 0)) {
        throw new InvalidOptionError(`split[${i}].percent`, 'must be a number ≥ 0');
      }
      total += entry.percent;
    }
    const decided = ruleIndex === -1 ? {} : { rule: ruleIndex };
    const name = splitCookieName(app, environment);
    const current = cookieValue(request.cookieHeader, name);
    const kept =
      current === undefined ? undefined : split.find((e) => splitTargetLabel(e) === current);
    if (kept) return { ...assignment(kept), ...decided };
    const drawn = this.#draw(split, total, request.random ?? this.#random);
    const chosen = assignment(drawn);
    return {
      ...chosen,
      ...decided,
      setCookie: `${name}=${chosen.destination}; ${this.#attributes}`,
    };
  }

  #draw(split: readonly SplitEntry[], total: number, random: () => number): SplitEntry {
    const r = Number(random());
    const x = (Number.isFinite(r) ? Math.min(Math.max(r, 0), 1 - Number.EPSILON) : 0) * total;
    let acc = 0;
    for (const entry of split) {
      acc += entry.percent;
      if (x < acc) return entry;
    }
    // total 0 (every percent 0) or rounding: the last deployment with a share, else the first.
    return [...split].reverse().find((e) => e.percent > 0) ?? (split[0] as SplitEntry);
  }
}

/** The assignment to one target of a split. */
function assignment(entry: SplitEntry): SplitAssignment {
  return {
    deploymentId: entry.deploymentId,
    destination: splitTargetLabel(entry),
    ...(entry.destination !== undefined ? { routerDestination: entry.destination } : {}),
  };
}

/** True when every criterion of `rule` holds for the request. */
function ruleMatches(rule: SplitRule, request: SplitRequest): boolean {
  const { cookie, header, device, country } = rule.when;
  if (cookie) {
    const value = cookieValue(request.cookieHeader, cookie.name);
    if (value === undefined || (cookie.value !== undefined && value !== cookie.value)) return false;
  }
  if (header) {
    const value = request.headers?.[header.name];
    if (value === undefined || (header.value !== undefined && value !== header.value)) return false;
  }
  if (device && (request.device === undefined || !device.includes(request.device as never))) {
    return false;
  }
  if (
    country &&
    (request.country === undefined || !country.includes(request.country.toUpperCase()))
  ) {
    return false;
  }
  return true;
}
