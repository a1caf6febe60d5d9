/**
 * Rendezvous (highest-random-weight) hashing: which global member owns a
 * cache key. Every shield computes the same order from the same live
 * members, with no coordination; when a member leaves, only its keys move
 * (each to the next member of its own order), and when it returns they move
 * back, and no other key moves.
 *
 * @module
 */
import { createHash } from 'node:crypto';

/** The weight of `member` for `key`: the first 48 bits of SHA-256(member, key). */
function weight(member: string, key: string): number {
  return createHash('sha256').update(member).update('\0').update(key).digest().readUIntBE(0, 6);
}

/**
 * `members` in rendezvous order for `key`: the owner first, then the member
 * that owns the key when the owner is gone, and so on. Ties (equal weights)
 * break by member name, so every caller agrees.
 *
 * @example
 * rendezvousOrder('shop@d1:/p/1', ['g-a', 'g-b', 'g-c']); // e.g. ['g-b', 'g-a', 'g-c']
 */
export function rendezvousOrder(key: string, members: Iterable<string>): string[] {
  const weighted = [...new Set(members)].map((m) => ({ m, w: weight(m, key) }));
  weighted.sort((a, b) => b.w - a.w || (a.m < b.m ? -1 : a.m > b.m ? 1 : 0));
  return weighted.map((x) => x.m);
}
