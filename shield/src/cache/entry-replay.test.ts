import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CorruptEntryError, decodeEntry, encodeEntry } from './disk-format.ts';
import { entrySize } from './entry.ts';
import { CacheStore } from './store.ts';
import type { CacheEntry, EntryReplay } from './types.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const REPLAY: EntryReplay = {
  headers: [
    ['accept-encoding', 'gzip'],
    ['cookie', 'tier=gold'],
    ['user-agent', 'Mozilla/5.0 (iPhone)'],
  ],
};

function entry(key: string, over: Partial<CacheEntry> = {}): CacheEntry {
  return {
    key,
    status: 200,
    headers: [['content-type', 'text/html']],
    body: new TextEncoder().encode(`page ${key}`),
    storedAt: 1_000,
    freshUntil: 61_000,
    staleWhileRevalidateUntil: 61_000,
    staleIfErrorUntil: 61_000,
    app: 'shop',
    environment: 'production',
    path: '/p/1',
    url: 'shop.example/p/1',
    surrogateKeys: [],
    ...over,
  };
}

/** An entry file as written before entries kept their replay (no such field). */
function fileWithoutReplay(e: CacheEntry): Uint8Array {
  const { body, ...rest } = e;
  const meta = Buffer.from(JSON.stringify({ ...rest, v: 1, bodyBytes: body.byteLength }));
  const head = Buffer.alloc(8);
  head.writeUInt32BE(0x464c4331, 0);
  head.writeUInt32BE(meta.byteLength, 4);
  const before = Buffer.concat([head, meta, body]);
  return Buffer.concat([before, createHash('sha256').update(before).digest()]);
}

describe('an entry replay', () => {
  it('is kept in the entry file, and a file without one still loads (none)', () => {
    const e = entry('a', { replay: { ...REPLAY, unreplayable: 'keyed by x-flotilla-client-ip' } });
    expect(decodeEntry(encodeEntry({ entry: e })).entry).toEqual(e);
    const old = entry('b');
    const back = decodeEntry(fileWithoutReplay(old)).entry;
    expect(back).toEqual(old);
    expect(back.replay).toBeUndefined();
  });

  it('makes a file with a malformed replay corrupt', () => {
    const bad = entry('c', { replay: { headers: [['cookie', 7]] } as unknown as EntryReplay });
    expect(() => decodeEntry(encodeEntry({ entry: bad }))).toThrow(CorruptEntryError);
  });

  it('is counted in the entry accounting, header by header', () => {
    const without = entrySize(entry('a'));
    const withIt = entrySize(entry('a', { replay: REPLAY }));
    const strings = REPLAY.headers.reduce((n, [k, v]) => n + k.length + v.length, 0);
    expect(withIt - without).toBeGreaterThanOrEqual(strings);
    const longer = entrySize(
      entry('a', { replay: { headers: [...REPLAY.headers, ['x-tenant', 'x'.repeat(500)]] } }),
    );
    expect(longer - withIt).toBeGreaterThanOrEqual(508);
  });
});

describe('CacheStore.entriesOf', () => {
  it('lists every variant stored under a URL, from memory and, after a restart, from disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-entry-replay-'));
    dirs.push(dir);
    const now = () => 2_000;
    const first = new CacheStore({ maxBytes: 1 << 20, now, disk: { dir } });
    await first.open();
    const gold = entry('k-gold', { replay: REPLAY });
    const silver = entry('k-silver', {
      replay: { headers: [['cookie', 'tier=silver']] },
    });
    const plain = entry('k-plain');
    const other = entry('k-other', { url: 'shop.example/p/2', path: '/p/2' });
    for (const e of [gold, silver, plain, other]) first.set(e);
    const inMemory = await first.entriesOf('https://SHOP.example/p/1');
    expect(inMemory.map((e) => e.key).sort()).toEqual(['k-gold', 'k-plain', 'k-silver']);
    await first.flush();

    const second = new CacheStore({ maxBytes: 1 << 20, now, disk: { dir } });
    await second.open();
    expect(second.size).toBe(0);
    await second.restore('k-gold');
    const listed = await second.entriesOf('shop.example/p/1');
    expect(listed.map((e) => e.key).sort()).toEqual(['k-gold', 'k-plain', 'k-silver']);
    const byKey = new Map(listed.map((e) => [e.key, e.replay]));
    expect(byKey.get('k-gold')).toEqual(REPLAY);
    expect(byKey.get('k-silver')).toEqual({ headers: [['cookie', 'tier=silver']] });
    expect(byKey.get('k-plain')).toBeUndefined();
    // Listing reads from disk without bringing entries into memory.
    expect(second.size).toBe(1);
  });
});
