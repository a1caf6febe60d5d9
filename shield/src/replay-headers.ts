/**
 * What a stored entry keeps of the request that formed its key, so a
 * revalidation can render that variant again from loopback (issue 16):
 * only keyed headers and cookies, never a visitor's others.
 *
 * @module
 */
import { type CacheKeySpec, DEFAULT_CACHE_KEY_SPEC } from '@flotilla/manifest';
import type { EntryReplay } from './cache/types.ts';

/** What {@link replayOf} keys besides the route's spec. */
export interface ReplayFacts {
  /** Names of keyed facts the shield derives from the client's address. */
  derived: ReadonlySet<string>;
  /** Keyed facts (name, believed value). */
  keyedFacts: ReadonlyArray<[string, string]>;
  /** The split cookie's name and the destination drawn. */
  split: [string, string] | undefined;
  /** A cacheable POST (its body is keyed). */
  post: boolean;
}

/** The user-agent classes a key may hold. */
const AGENT_FIELDS = ['device', 'browser', 'isBot', 'vendor'] as const;

/**
 * The request headers that formed a key and that a revalidation can send
 * again from loopback (see {@link EntryReplay}): only keyed ones, so a
 * replay never carries a visitor's other headers or cookies.
 */
export function replayOf(
  spec: CacheKeySpec | undefined,
  headers: Record<string, string>,
  facts: ReplayFacts,
): EntryReplay {
  const base = spec ?? DEFAULT_CACHE_KEY_SPEC;
  const out = new Map<string, string>();
  for (const name of base.headers) {
    // The host comes from the URL; cookies go as the keyed ones only.
    if (name === 'host' || name === 'cookie') continue;
    const value = headers[name];
    if (value !== undefined) out.set(name, value);
  }
  for (const [name, value] of facts.keyedFacts) {
    if (!facts.derived.has(name)) out.set(name, value);
  }
  const cookies = new Map<string, string>();
  const jar = parseCookies(headers.cookie);
  for (const name of base.cookies) {
    const value = jar.get(name);
    if (value !== undefined) cookies.set(name, value);
  }
  if (facts.split) cookies.set(facts.split[0], facts.split[1]);
  if (cookies.size > 0) {
    out.set('cookie', [...cookies].map(([name, value]) => `${name}=${value}`).join('; '));
  }
  const ua = headers['user-agent'];
  if (ua !== undefined && AGENT_FIELDS.some((f) => base[f] === true)) out.set('user-agent', ua);
  const ae = headers['accept-encoding'];
  if (ae !== undefined) out.set('accept-encoding', ae);
  const why = [
    ...(facts.derived.size > 0 ? [`keyed by ${[...facts.derived].sort().join(', ')}`] : []),
    ...(facts.post ? ['keyed by a POST body'] : []),
  ];
  const sorted = [...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { headers: sorted, ...(why.length > 0 ? { unreplayable: why.join('; ') } : {}) };
}

/** The cookies of a `cookie` header by name (the first value of each). */
function parseCookies(header: string | undefined): Map<string, string> {
  const jar = new Map<string, string>();
  if (header === undefined) return jar;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    if (name !== '' && !jar.has(name)) jar.set(name, part.slice(eq + 1).trim());
  }
  return jar;
}
