/**
 * The shield's side of a revalidation (`POST /revalidate`, a purge request
 * with `revalidate`), and the purge API's purge when there is no fleet to
 * reach (the embedded one: this shield alone).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { normalizeAcceptEncoding } from '@flotilla/manifest';
import { encodePurgeRequest, FlotillaError, type PurgeSelector } from '@flotilla/protocol';
import type { FleetPurgeResult } from './admin-api.ts';
import type { EdgeCache } from './cache/edge-cache.ts';
import { ENCODINGS } from './cache/prerender-responder.ts';
import type { PurgeResponder } from './cache/purge-responder.ts';
import type { CacheEntry } from './cache/types.ts';
import { REVALIDATE_HEADER } from './cache-request.ts';
import { loopbackGet } from './loopback.ts';
import { now } from './timing.ts';

/** Where and how {@link revalidateThroughListener} asks. */
export interface RevalidateTarget {
  /** The traffic listener's interface and port. */
  host: string;
  port: number;
  /** Host + path + query, as purges name it. */
  url: string;
  /** The shield's own `x-flotilla-revalidate` token. */
  token: string;
  timeoutMs: number;
}

/** The `x-flotilla-revalidate` answer of a global member that leaves a key to its owner. */
export const LEFT_TO_OWNER = 'left-to-owner';

/**
 * A global member's answer to its own revalidation of a key another member
 * owns: no render (the owner renders it once for the fleet); a copy it held
 * (from before the members changed) is dropped.
 */
export async function answerLeftToOwner(
  res: ServerResponse,
  cache: EdgeCache,
  key: string,
): Promise<void> {
  await cache.dropDurably(key);
  res.writeHead(204, { [REVALIDATE_HEADER]: LEFT_TO_OWNER, 'cache-control': 'no-store' });
  res.end();
}

/** What {@link revalidateThroughListener} did. */
export interface Revalidated {
  /** Copies rendered and stored again. */
  stored: number;
  /** Stored variants not rendered again, each as `key: why`. */
  notRevalidated: string[];
}

/**
 * Renders `url` now through the shield's own listener: once per cache-key
 * encoding a plain visitor may have, and once per distinct replay of the
 * `entries` stored under it (their device, keyed cookies and headers, split
 * cookie, encoding); each render replaces its stored copy when ready (the
 * old one serves meanwhile, and stays when the render fails). Variants keyed
 * by facts the shield derives from the client's address are not rendered:
 * they are listed in `notRevalidated`. Keys a global member leaves to their
 * owners count none.
 *
 * @throws FlotillaError `FLOTILLA_ERR_RENDER` when no copy was stored again, with why
 */
export async function revalidateThroughListener(
  target: RevalidateTarget,
  entries: readonly CacheEntry[] = [],
): Promise<Revalidated> {
  const { url } = target;
  const cut = url.search(/[/?]/);
  const host = cut === -1 ? url : url.slice(0, cut);
  const path = cut === -1 ? '/' : url.slice(cut);
  const { replays, notRevalidated } = replaysOf(entries);
  let stored = 0;
  let leftToOwners = 0;
  const problems: string[] = [];
  for (const replay of replays.values()) {
    const headers: Record<string, string> = {
      ...Object.fromEntries(replay.headers),
      host,
      [REVALIDATE_HEADER]: target.token,
    };
    const got = await loopbackGet(target.host, target.port, path, headers, target.timeoutMs);
    if (got.revalidate === LEFT_TO_OWNER) leftToOwners++;
    else if (/;\s*stored\b/.test(got.cacheStatus)) stored++;
    else {
      const problem = got.error ?? `${got.status} ${got.cacheStatus || 'no cache-status'}`;
      problems.push(problem);
      for (const key of replay.keys) notRevalidated.push(`${key}: ${problem}`);
    }
  }
  if (stored === 0 && leftToOwners < replays.size) {
    throw new FlotillaError(
      'FLOTILLA_ERR_RENDER',
      `${url} was not stored again: ${[...new Set(problems)].join('; ')}`,
    );
  }
  return { stored, notRevalidated };
}

/**
 * The distinct header sets to render (the plain visitor's encodings first),
 * with the stored keys each renews, and the variants that cannot be replayed.
 */
function replaysOf(entries: readonly CacheEntry[]): {
  replays: Map<string, { headers: Array<[string, string]>; keys: string[] }>;
  notRevalidated: string[];
} {
  const replays = new Map<string, { headers: Array<[string, string]>; keys: string[] }>();
  const add = (headers: Array<[string, string]>, key: string | undefined) => {
    // Encodings the key holds alike render once.
    const id = JSON.stringify(
      headers.map(([n, v]) => (n === 'accept-encoding' ? [n, normalizeAcceptEncoding(v)] : [n, v])),
    );
    let replay = replays.get(id);
    if (replay === undefined) {
      replay = { headers, keys: [] };
      replays.set(id, replay);
    }
    if (key !== undefined) replay.keys.push(key);
  };
  for (const encoding of ENCODINGS) {
    add(encoding ? [['accept-encoding', encoding]] : [], undefined);
  }
  const notRevalidated: string[] = [];
  for (const entry of entries) {
    const replay = entry.replay;
    // Stored before replays were kept, or a global tier's copy: the plain visitor's renders only.
    if (replay === undefined) continue;
    if (replay.unreplayable !== undefined) {
      notRevalidated.push(`${entry.key}: ${replay.unreplayable}`);
      continue;
    }
    add(replay.headers, entry.key);
  }
  return { replays, notRevalidated };
}

/** The purge API's purge without a fleet: `responder`'s shield alone. */
export async function purgeThisShield(
  responder: PurgeResponder | undefined,
  me: { shieldId: string; region: string },
  selector: PurgeSelector,
  options: { revalidate?: boolean },
): Promise<FleetPurgeResult> {
  const started = now();
  const purgeId = randomBytes(8).toString('hex');
  if (!responder) return { purgeId, live: [], acked: [], failed: [], missing: [], ms: 0 };
  const ack = await responder.handle(
    encodePurgeRequest({ purgeId, selector, ...(options.revalidate ? { revalidate: true } : {}) }),
  );
  const ms = Math.round(now() - started);
  if (ack.error !== undefined) {
    const failed = [{ ...me, error: ack.error }];
    return { purgeId, live: [me], acked: [], failed, missing: [], ms };
  }
  const acked = {
    ...me,
    removed: ack.removed,
    ...(ack.revalidated !== undefined ? { revalidated: ack.revalidated } : {}),
    ...(ack.notRevalidated !== undefined ? { notRevalidated: ack.notRevalidated } : {}),
  };
  return { purgeId, live: [me], acked: [acked], failed: [], missing: [], ms };
}
