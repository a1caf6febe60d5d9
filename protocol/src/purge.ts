/**
 * Cache purges over NATS: `flotilla purge` broadcasts a {@link PurgeRequest}
 * on {@link PURGE_SUBJECT}; every shield subscribes (no queue group), purges
 * its store and answers with a {@link PurgeAck}. Shields announce themselves
 * on {@link SHIELD_HEARTBEAT_SUBJECT} (a {@link ShieldBeat} about once a
 * second) so that a purger knows which shields must answer.
 *
 * Both subjects have two tokens: every region subject (`flotilla.<region>.…`)
 * has three or more, so no region name can collide with them, and the
 * `flotilla.*.heartbeat` wildcard of `flotilla status` does not match them.
 *
 * Bodies are JSON, like the region probes.
 *
 * @module
 */
import { FlotillaError } from './errors.ts';
import { decodeJsonObject, encodeJsonBody } from './json-body.ts';
import { isSubjectToken } from './subjects.ts';

/** Subject of purges: every shield listens, each answers. */
export const PURGE_SUBJECT = 'flotilla.purge';

/** Subject of shield heartbeats ({@link ShieldBeat}). */
export const SHIELD_HEARTBEAT_SUBJECT = 'flotilla.shields-heartbeat';

/** Longest URL, pattern or surrogate key a purge carries (the shield's URL limit). */
export const MAX_PURGE_TEXT = 16 * 1024;

/**
 * What a purge removes from every shield's cache (the same type as
 * `PurgeSelector` of the shield's cache).
 */
export type PurgeSelector =
  /** One URL: host (lower-case, no port) + path (+ query), see {@link normalizePurgeUrl}. */
  | { kind: 'url'; url: string }
  /** Paths matching a route pattern of `@flotilla/manifest` `compilePattern`, e.g. `/p/:id*`. */
  | { kind: 'path'; pattern: string; app?: string; environment?: string }
  /** Entries tagged with a surrogate key (`surrogate-key` / `cache-tag` response headers). */
  | { kind: 'surrogate-key'; key: string; app?: string }
  /** Everything cached for one environment of an app. */
  | { kind: 'environment'; app: string; environment: string };

/** A purge as broadcast on {@link PURGE_SUBJECT}. */
export interface PurgeRequest {
  /** Unique id of this purge (letters, digits, `-`, `_`; 1–64), echoed in every ack. */
  purgeId: string;
  selector: PurgeSelector;
}

/** One shield's answer to a purge. */
export interface PurgeAck {
  purgeId: string;
  shieldId: string;
  region: string;
  /** Entries the shield removed. */
  removed: number;
  /** Why the shield could not purge (then `removed` is 0). */
  error?: string;
}

/** A shield's heartbeat on {@link SHIELD_HEARTBEAT_SUBJECT}. */
export interface ShieldBeat {
  shieldId: string;
  region: string;
  /** Interval of the shield's heartbeats, ms: silence for longer means it is gone. */
  intervalMs: number;
  /** True on the last beat of a shield that stops (it has no cache to purge any more). */
  leaving?: boolean;
}

const PURGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
function text(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_PURGE_TEXT;
}

/**
 * What is wrong with `value` as a {@link PurgeSelector}, or `undefined` when
 * it is one. Apps and environments must be subject tokens, a pattern starts
 * with `/`, a URL has a host and a path, a surrogate key has no white space.
 */
export function purgeSelectorProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be an object with a kind';
  }
  const v = value as Record<string, unknown>;
  const optionalToken = (field: 'app' | 'environment'): string | undefined =>
    v[field] === undefined || isSubjectToken(v[field])
      ? undefined
      : `${field} must be lower-case letters, digits and dashes, got ${JSON.stringify(v[field])}`;
  switch (v.kind) {
    case 'url':
      if (!text(v.url) || !/^[^/\s]+\/\S*$/.test(v.url)) {
        return `url must be host + path (e.g. shop.example.com/p/1?x=1), got ${JSON.stringify(v.url)}`;
      }
      return undefined;
    case 'path':
      if (!text(v.pattern) || !v.pattern.startsWith('/')) {
        return `pattern must be a path pattern starting with / (e.g. /p/:id*), got ${JSON.stringify(v.pattern)}`;
      }
      return optionalToken('app') ?? optionalToken('environment');
    case 'surrogate-key':
      if (!text(v.key) || /[\s,]/.test(v.key)) {
        return `key must be one surrogate key (no spaces or commas), got ${JSON.stringify(v.key)}`;
      }
      return optionalToken('app');
    case 'environment':
      if (!isSubjectToken(v.app) || !isSubjectToken(v.environment)) {
        return `app and environment must be lower-case letters, digits and dashes, got ${JSON.stringify(v.app)} and ${JSON.stringify(v.environment)}`;
      }
      return undefined;
    default:
      return `kind must be url, path, surrogate-key or environment, got ${JSON.stringify(v.kind)}`;
  }
}

/** The selector with only its own fields (anything else a sender added is dropped). */
function cleanSelector(v: Record<string, unknown>): PurgeSelector {
  const opt = (field: string) =>
    typeof v[field] === 'string' ? { [field]: v[field] as string } : {};
  switch (v.kind) {
    case 'url':
      return { kind: 'url', url: v.url as string };
    case 'path':
      return { kind: 'path', pattern: v.pattern as string, ...opt('app'), ...opt('environment') };
    case 'surrogate-key':
      return { kind: 'surrogate-key', key: v.key as string, ...opt('app') };
    default:
      return { kind: 'environment', app: v.app as string, environment: v.environment as string };
  }
}

/**
 * The form of a URL that purge-by-URL matches: host lower-cased without
 * port, then the path and query as given (no scheme, no fragment). Accepts
 * `https://Shop.Example.com:8443/p/1?x=1` or `shop.example.com/p/1?x=1`.
 * The shield stores each entry's `url` in the same form.
 *
 * @example
 * normalizePurgeUrl('https://Shop.Example.com/p/1?color=red#top') // 'shop.example.com/p/1?color=red'
 * @throws FlotillaError `FLOTILLA_ERR_INVALID_OPTION` when there is no host
 */
export function normalizePurgeUrl(input: string): string {
  let rest = input.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const cut = rest.search(/[/?]/);
  let host = cut === -1 ? rest : rest.slice(0, cut);
  let path = cut === -1 ? '/' : rest.slice(cut);
  if (path.startsWith('?')) path = `/${path}`;
  host = host.toLowerCase();
  if (host.startsWith('[')) host = host.slice(0, host.indexOf(']') + 1);
  else if (host.includes(':')) host = host.slice(0, host.lastIndexOf(':'));
  if (host === '' || /[\s@]/.test(host)) {
    throw new FlotillaError(
      'FLOTILLA_ERR_INVALID_OPTION',
      `${JSON.stringify(input)} is not a URL with a host (e.g. https://shop.example.com/p/1)`,
    );
  }
  return `${host}${path}`;
}

/**
 * Encodes a {@link PurgeRequest}.
 * @throws FlotillaError `FLOTILLA_ERR_INVALID_OPTION` for a bad id or selector
 */
export function encodePurgeRequest(req: PurgeRequest): Uint8Array {
  if (typeof req.purgeId !== 'string' || !PURGE_ID.test(req.purgeId)) {
    throw new FlotillaError(
      'FLOTILLA_ERR_INVALID_OPTION',
      `purgeId must be 1-64 letters, digits, - or _, got ${JSON.stringify(req.purgeId)}`,
    );
  }
  const problem = purgeSelectorProblem(req.selector);
  if (problem !== undefined) {
    throw new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', `purge selector: ${problem}`);
  }
  return encodeJsonBody({ purgeId: req.purgeId, selector: req.selector });
}

/**
 * Decodes and checks a {@link PurgeRequest}.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` naming what is wrong
 */
export function decodePurgeRequest(bytes: Uint8Array): PurgeRequest {
  const v = decodeJsonObject(bytes, 'purge request');
  if (typeof v.purgeId !== 'string' || !PURGE_ID.test(v.purgeId)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'purge request has no valid purgeId');
  }
  const problem = purgeSelectorProblem(v.selector);
  if (problem !== undefined) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', `purge request selector: ${problem}`);
  }
  return {
    purgeId: v.purgeId,
    selector: cleanSelector(v.selector as Record<string, unknown>),
  };
}

/** Encodes a {@link PurgeAck}. */
export function encodePurgeAck(ack: PurgeAck): Uint8Array {
  return encodeJsonBody(ack);
}

/**
 * Decodes and checks a {@link PurgeAck}.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` when it has the wrong shape
 */
export function decodePurgeAck(bytes: Uint8Array): PurgeAck {
  const v = decodeJsonObject(bytes, 'purge ack');
  if (
    typeof v.purgeId !== 'string' ||
    !isSubjectToken(v.shieldId) ||
    !isSubjectToken(v.region) ||
    typeof v.removed !== 'number' ||
    !Number.isInteger(v.removed) ||
    v.removed < 0 ||
    (v.error !== undefined && typeof v.error !== 'string')
  ) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'purge ack has the wrong shape');
  }
  return {
    purgeId: v.purgeId,
    shieldId: v.shieldId as string,
    region: v.region as string,
    removed: v.removed,
    ...(typeof v.error === 'string' ? { error: v.error } : {}),
  };
}

/** Encodes a {@link ShieldBeat}. */
export function encodeShieldBeat(beat: ShieldBeat): Uint8Array {
  return encodeJsonBody(beat);
}

/**
 * Decodes and checks a {@link ShieldBeat}.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` when it has the wrong shape
 */
export function decodeShieldBeat(bytes: Uint8Array): ShieldBeat {
  const v = decodeJsonObject(bytes, 'shield heartbeat');
  if (
    !isSubjectToken(v.shieldId) ||
    !isSubjectToken(v.region) ||
    typeof v.intervalMs !== 'number' ||
    !Number.isFinite(v.intervalMs) ||
    v.intervalMs <= 0 ||
    (v.leaving !== undefined && typeof v.leaving !== 'boolean')
  ) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'shield heartbeat has the wrong shape');
  }
  return {
    shieldId: v.shieldId as string,
    region: v.region as string,
    intervalMs: v.intervalMs,
    ...(v.leaving === true ? { leaving: true } : {}),
  };
}
