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
import * as v from 'valibot';
import { FlotillaError } from './errors.ts';
import { encodeJsonBody, jsonBodyDecoder } from './json-body.ts';
import { isSubjectToken } from './patterns.ts';
import { type Message, problemOf } from './schema.ts';
import { ShieldTierSchema } from './tiers.ts';

/** Subject of purges: every shield listens, each answers. */
export const PURGE_SUBJECT = 'flotilla.purge';

/** Subject of shield heartbeats ({@link ShieldBeat}). */
export const SHIELD_HEARTBEAT_SUBJECT = 'flotilla.shields-heartbeat';

/** Longest URL, pattern or surrogate key a purge carries (the shield's URL limit). */
export const MAX_PURGE_TEXT = 16 * 1024;

/** `<problem>, got <the value as JSON>`, the style of purge messages. */
const gotJson =
  (problem: string): Message =>
  (issue) =>
    `${problem}, got ${JSON.stringify(issue.input)}`;

/** 1 to {@link MAX_PURGE_TEXT} characters. */
function text(message: Message) {
  return v.pipe(v.string(message), v.minLength(1, message), v.maxLength(MAX_PURGE_TEXT, message));
}

const TOKEN_PROBLEM = 'must be lower-case letters, digits and dashes';
const optionalToken = v.optional(v.custom<string>(isSubjectToken, gotJson(TOKEN_PROBLEM)));

const URL_PROBLEM = gotJson('must be host + path (e.g. shop.example.com/p/1?x=1)');
const PATTERN_PROBLEM = gotJson('must be a path pattern starting with / (e.g. /p/:id*)');
const KEY_PROBLEM = gotJson('must be one surrogate key (no spaces or commas)');

/**
 * What a purge removes from every shield's cache (the same type as
 * `PurgeSelector` of the shield's cache). Apps and environments are subject
 * tokens; fields a selector does not have are dropped.
 */
export const PurgeSelectorSchema = v.variant(
  'kind',
  [
    /** One URL: host (lower-case, no port) + path (+ query), see {@link normalizePurgeUrl}. */
    v.object({
      kind: v.literal('url'),
      url: v.pipe(text(URL_PROBLEM), v.regex(/^[^/\s]+\/\S*$/, URL_PROBLEM)),
    }),
    /** Paths matching a route pattern of `@flotilla/manifest` `compilePattern`, e.g. `/p/:id*`. */
    v.object({
      kind: v.literal('path'),
      pattern: v.pipe(text(PATTERN_PROBLEM), v.startsWith('/', PATTERN_PROBLEM)),
      app: optionalToken,
      environment: optionalToken,
    }),
    /** Entries tagged with a surrogate key (`surrogate-key` / `cache-tag` response headers). */
    v.object({
      kind: v.literal('surrogate-key'),
      key: v.pipe(
        text(KEY_PROBLEM),
        v.check((key) => !/[\s,]/.test(key), KEY_PROBLEM),
      ),
      app: optionalToken,
    }),
    /** Everything cached for one environment of an app. */
    v.pipe(
      v.object({
        kind: v.literal('environment'),
        app: v.optional(v.unknown()),
        environment: v.optional(v.unknown()),
      }),
      v.check(
        (s) => isSubjectToken(s.app) && isSubjectToken(s.environment),
        (issue) => {
          const s = issue.input as { app?: unknown; environment?: unknown };
          return `needs app and environment of lower-case letters, digits and dashes, got ${JSON.stringify(s.app)} and ${JSON.stringify(s.environment)}`;
        },
      ),
      v.transform((s) => ({
        kind: s.kind,
        app: s.app as string,
        environment: s.environment as string,
      })),
    ),
  ],
  (issue) =>
    issue.path
      ? `must be url, path, surrogate-key or environment, got ${JSON.stringify(issue.input)}`
      : 'must be an object with a kind',
);

/** What a purge removes from every shield's cache ({@link PurgeSelectorSchema}). */
export type PurgeSelector = v.InferOutput<typeof PurgeSelectorSchema>;

/** A purge as broadcast on {@link PURGE_SUBJECT}. */
export const PurgeRequestSchema = v.object({
  /** Unique id of this purge (letters, digits, `-`, `_`; 1–64), echoed in every ack. */
  purgeId: v.pipe(
    v.string(gotJson('must be 1-64 letters, digits, - or _')),
    v.regex(/^[A-Za-z0-9_-]{1,64}$/, gotJson('must be 1-64 letters, digits, - or _')),
  ),
  selector: PurgeSelectorSchema,
  /**
   * Revalidate instead of purge (a `url` selector only): each shield renders
   * the URL now and replaces its stored copy when the render is ready,
   * serving the old one meanwhile. A shield that does not know the field
   * purges the URL instead.
   */
  revalidate: v.optional(v.literal(true, gotJson('must be true or absent'))),
});

/** A purge as broadcast on {@link PURGE_SUBJECT} ({@link PurgeRequestSchema}). */
export type PurgeRequest = v.InferOutput<typeof PurgeRequestSchema>;
/**
 * Decodes and checks a {@link PurgeRequest}.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` naming what is wrong
 */
export const decodePurgeRequest = jsonBodyDecoder(PurgeRequestSchema, 'purge request');

/** One shield's answer to a purge. */
export const PurgeAckSchema = v.object({
  purgeId: v.string(),
  shieldId: v.custom<string>(isSubjectToken),
  region: v.custom<string>(isSubjectToken),
  /** Entries the shield removed. */
  removed: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  /** Why the shield could not purge (then `removed` is 0). */
  error: v.optional(v.string()),
  /** Of a revalidation: the copies the shield rendered and stored again. */
  revalidated: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0))),
  /**
   * Of a revalidation: stored variants of the URL not rendered again, each as
   * `key: why` (keyed by facts derived from the client's address, or a
   * render that failed: the old copy stays).
   */
  notRevalidated: v.optional(v.array(v.string())),
});

/** One shield's answer to a purge ({@link PurgeAckSchema}). */
export type PurgeAck = v.InferOutput<typeof PurgeAckSchema>;

/** A shield that answered a fleet-wide purge but could not purge. */
export interface PurgeFailure {
  shieldId: string;
  region: string;
  error: string;
}

/**
 * What one fleet-wide purge saw: `purgeFleet` of `@flotilla/deploy`, the
 * shield's admin API and the CLI report it.
 */
export interface PurgeFleetResult {
  purgeId: string;
  /** The shields heard heartbeating (and not leaving), sorted by id. */
  live: Array<{ shieldId: string; region: string }>;
  /** Shields that purged, sorted by id (any that answered, heard before or not). */
  acked: Array<Omit<PurgeAck, 'purgeId' | 'error'>>;
  /** Shields that answered with an error, sorted by id. */
  failed: PurgeFailure[];
  /** Ids of live shields that did not answer within the wait, sorted. */
  missing: string[];
  /** Time from the start of listening to the last answer, ms. */
  ms: number;
}
/** Encodes a {@link PurgeAck}. */
export const encodePurgeAck = encodeJsonBody<PurgeAck>;
/**
 * Decodes and checks a {@link PurgeAck}.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` when it has the wrong shape
 */
export const decodePurgeAck = jsonBodyDecoder(PurgeAckSchema, 'purge ack');

/** A shield's heartbeat on {@link SHIELD_HEARTBEAT_SUBJECT}. */
export const ShieldBeatSchema = v.object({
  shieldId: v.custom<string>(isSubjectToken),
  region: v.custom<string>(isSubjectToken),
  /** Interval of the shield's heartbeats, ms: silence for longer means it is gone. */
  intervalMs: v.pipe(v.number(), v.finite(), v.gtValue(0)),
  /**
   * The shield's cache tier (`both` when absent): edges send misses to the
   * live `global` members.
   */
  tier: v.optional(ShieldTierSchema),
  /** True on the last beat of a shield that stops (it has no cache to purge any more). */
  leaving: v.optional(
    v.pipe(
      v.boolean(),
      v.transform((leaving) => (leaving ? true : undefined)),
    ),
  ),
});

/** A shield's heartbeat ({@link ShieldBeatSchema}). */
export type ShieldBeat = v.InferOutput<typeof ShieldBeatSchema>;
/** Encodes a {@link ShieldBeat} (`leaving: false` is dropped). */
export const encodeShieldBeat = encodeJsonBody<v.InferInput<typeof ShieldBeatSchema>>;
/**
 * Decodes and checks a {@link ShieldBeat}.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` when it has the wrong shape
 */
export const decodeShieldBeat = jsonBodyDecoder(ShieldBeatSchema, 'shield heartbeat');

/**
 * What is wrong with `value` as a {@link PurgeSelector}, or `undefined` when
 * it is one. Apps and environments must be subject tokens, a pattern starts
 * with `/`, a URL has a host and a path, a surrogate key has no white space.
 */
export function purgeSelectorProblem(value: unknown): string | undefined {
  return problemOf(PurgeSelectorSchema, value);
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
  const problem = problemOf(PurgeRequestSchema, req);
  if (problem !== undefined) {
    throw new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', `purge request: ${problem}`);
  }
  if (req.revalidate && req.selector.kind !== 'url') {
    throw new FlotillaError(
      'FLOTILLA_ERR_INVALID_OPTION',
      `purge request: revalidate takes a url selector, got ${req.selector.kind}`,
    );
  }
  return encodeJsonBody({
    purgeId: req.purgeId,
    selector: req.selector,
    ...(req.revalidate ? { revalidate: true } : {}),
  });
}
