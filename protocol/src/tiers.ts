/**
 * The shield's cache tiers (issue 16): edge shields (L1) send their cache
 * misses to the global member (L2) that owns the key, on that member's own
 * subject ({@link tierMissSubject}). A tier miss is a render request (the
 * wire message of {@link encodeRenderRequest}) with a `flotilla-tier` header
 * holding {@link TierMiss}; the answer is a render result with a
 * `flotilla-tier` header holding {@link TierAnswer}: what the global tier
 * did and, for a stored copy, its age and windows, so that freshness at the
 * edge ends when it ends at the owner.
 *
 * Global members are known from the shields' heartbeats
 * (`ShieldBeat.tier === 'global'`).
 *
 * @module
 */
import * as v from 'valibot';
import { FlotillaError } from './errors.ts';
import { subjectTokenOption } from './options.ts';
import { got, parseOrThrow } from './schema.ts';
import { SUBJECT_ROOT } from './subjects.ts';
import {
  decodeRenderRequest,
  decodeRenderResult,
  encodeRenderRequest,
  encodeRenderResult,
  type RenderRequest,
  type RenderResult,
  type WireMessage,
} from './wire.ts';

/**
 * What a shield process runs: `edge` (L1: caches, forwards its misses to
 * the global tier), `global` (L2: owns keys, renders through the regions),
 * or `both` (one tier, the default of `flotilla start`).
 */
export const SHIELD_TIERS = Object.freeze(['both', 'edge', 'global'] as const);

/** A shield's tier ({@link SHIELD_TIERS}). */
export type ShieldTier = (typeof SHIELD_TIERS)[number];

/** Schema of a {@link ShieldTier}. */
export const ShieldTierSchema = v.picklist(SHIELD_TIERS, got('must be both, edge or global'));

/** Header of a tier message holding its {@link TierMiss} or {@link TierAnswer} as JSON. */
export const TIER_HEADER = 'flotilla-tier';

/**
 * The subject global member `shieldId` answers tier misses on:
 * `flotilla.cache.tier.<shieldId>` (four tokens; no region subject has
 * `tier` third).
 */
export function tierMissSubject(shieldId: string): string {
  return `${SUBJECT_ROOT}.cache.tier.${subjectTokenOption('shieldId', shieldId)}`;
}

/** `tierMissSubject` of every member, for permissions. */
export const TIER_MISS_SUBJECT_PATTERN = `${SUBJECT_ROOT}.cache.tier.*`;

const ms = v.pipe(v.number(), v.finite());
const HeaderNameList = v.array(v.string());

/** The cache side of a tier miss: the edge's cache request (key, route, purge indexes). */
/**
 * The request headers that formed a cache entry's key and can be sent again
 * from loopback, for a revalidation of that variant: the key's headers, its
 * cookies (keyed ones and the split cookie only, as one `cookie` header),
 * the `user-agent` when the key holds the device, browser, bot flag or
 * vendor, and the `accept-encoding`. Lower-case names, sorted.
 */
export const EntryReplaySchema = v.object({
  headers: v.array(v.tuple([v.string(), v.string()])),
  /**
   * Why the variant cannot be sent again, when it cannot: keyed facts the
   * shield derives from the client's address (`x-flotilla-client-ip`, geo
   * headers), or a cacheable POST's body.
   */
  unreplayable: v.optional(v.string()),
});

/** {@link EntryReplaySchema}. */
export type EntryReplay = v.InferOutput<typeof EntryReplaySchema>;

export const TierMissSchema = v.object({
  /** The cache key. */
  key: v.pipe(v.string(), v.minLength(1)),
  /** The client's method, upper case. */
  method: v.pipe(v.string(), v.minLength(1)),
  /**
   * The matched routes' cache options (checked by the receiver against the
   * manifest's `RouteCacheOptionsSchema`; this package does not know it).
   */
  route: v.optional(v.unknown()),
  debug: v.boolean(),
  postCacheable: v.boolean(),
  requestBodyBytes: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  setCookieRemoved: v.boolean(),
  app: v.string(),
  environment: v.string(),
  path: v.string(),
  url: v.string(),
  /** Regions of the destination: the owner renders there. */
  primaryRegion: v.pipe(v.string(), v.minLength(1)),
  secondaryRegion: v.optional(v.string()),
  /**
   * Only look: answer a copy held now (fresh or within
   * stale-while-revalidate), never render. How a member that just took
   * over a key asks the one that held it.
   */
  peek: v.optional(v.boolean()),
  /** How the owner's revalidation renders this variant again (kept with its copy). */
  replay: v.optional(EntryReplaySchema),
});

/** The cache side of a tier miss ({@link TierMissSchema}). */
export type TierMiss = v.InferOutput<typeof TierMissSchema>;

/** Age and windows of a stored copy, relative to now, ms. */
export const TierWindowsSchema = v.object({
  /** How long ago the owner stored it. */
  ageMs: ms,
  /** Freshness lifetime from storage. */
  maxAgeMs: ms,
  /** stale-while-revalidate after freshness. */
  swrMs: ms,
  /** stale-if-error after freshness. */
  staleIfErrorMs: ms,
});

/** Age and windows of a stored copy ({@link TierWindowsSchema}). */
export type TierWindows = v.InferOutput<typeof TierWindowsSchema>;

/** What the global tier did with a tier miss. */
export const TierAnswerSchema = v.object({
  /** Its `Cache-Status` member (`flotilla-global; hit; ttl=42`). */
  cacheStatus: v.string(),
  /** Its `x-flotilla-caching-status`. */
  cachingStatus: v.string(),
  /** hit, stale, miss or pass. */
  outcome: v.picklist(['hit', 'stale', 'miss', 'pass']),
  /** The copy it answered from or stored, when there is one. */
  windows: v.optional(TierWindowsSchema),
  /** Surrogate keys of the copy (headers the edge may not see). */
  surrogateKeys: v.optional(HeaderNameList),
  /** A peek found nothing. */
  none: v.optional(v.boolean()),
  /** The member that answered. */
  shieldId: v.string(),
});

/** What the global tier did ({@link TierAnswerSchema}). */
export type TierAnswer = v.InferOutput<typeof TierAnswerSchema>;

function tierJson<S extends typeof TierMissSchema | typeof TierAnswerSchema>(
  schema: S,
  msg: WireMessage,
  what: string,
): v.InferOutput<S> {
  const text = msg.headers[TIER_HEADER];
  if (text === undefined) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${what} has no ${TIER_HEADER} header`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${what} is not JSON`);
  }
  return parseOrThrow(schema, json, '', (_f, _p, said) => {
    return new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${what} has the wrong shape: ${said}`);
  });
}

/** Encodes a tier miss: the render request and its cache side. */
export function encodeTierMiss(miss: TierMiss, request: RenderRequest): WireMessage {
  const msg = encodeRenderRequest(request);
  msg.headers[TIER_HEADER] = JSON.stringify(miss);
  return msg;
}

/**
 * Decodes a tier miss.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` naming what is wrong
 */
export function decodeTierMiss(msg: WireMessage): { miss: TierMiss; request: RenderRequest } {
  return { miss: tierJson(TierMissSchema, msg, 'tier miss'), request: decodeRenderRequest(msg) };
}

/** Encodes the global tier's answer: the render result and what the tier did. */
export function encodeTierAnswer(answer: TierAnswer, result: RenderResult): WireMessage {
  const msg = encodeRenderResult(result);
  msg.headers[TIER_HEADER] = JSON.stringify(answer);
  return msg;
}

/**
 * Decodes the global tier's answer.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` naming what is wrong
 */
export function decodeTierAnswer(msg: WireMessage): { answer: TierAnswer; result: RenderResult } {
  return {
    answer: tierJson(TierAnswerSchema, msg, 'tier answer'),
    result: decodeRenderResult(msg),
  };
}
