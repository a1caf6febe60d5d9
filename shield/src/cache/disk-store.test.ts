import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricValue } from '@flotilla/test-harness';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { CorruptEntryError, decodeEntry, encodeEntry } from './disk-format.ts';
import { CacheStore } from './store.ts';
import type { CacheEntry } from './types.ts';

const enc = new TextEncoder();
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-disk-store-'));
  dirs.push(dir);
  return dir;
}

/** An HTML body of `n` bytes that compresses well. */
function html(n: number, seed = ''): Uint8Array {
  const line = `<li class="product">Blue shoes ${seed}, size 42, in stock</li>\n`;
  return enc.encode(line.repeat(Math.ceil(n / line.length)).slice(0, n));
}

function entry(key: string, over: Partial<CacheEntry> = {}): CacheEntry {
  return {
    key,
    status: 200,
    headers: [
      ['content-type', 'text/html; charset=utf-8'],
      ['surrogate-key', `p-${key} all`],
    ],
    body: html(4000, key),
    storedAt: 1_000,
    freshUntil: 61_000,
    staleWhileRevalidateUntil: 91_000,
    staleIfErrorUntil: 121_000,
    app: 'shop',
    environment: 'production',
    path: `/p/${key}`,
    url: `shop.example/p/${key}`,
    surrogateKeys: [`p-${key}`, 'all'],
    ...over,
  };
}

/** A store on `dir` with its clock at `clock.now`. */
function storeOn(dir: string, clock = { now: 2_000 }, over: { maxBytes?: number } = {}) {
  const registry = new Registry();
  const store = new CacheStore({
    maxBytes: 1 << 20,
    registry,
    now: () => clock.now,
    disk: { dir, ...over },
  });
  return { store, registry, clock };
}

async function entryFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.entry')).sort();
}

describe('entry files', () => {
  it('round-trip an entry with its variants, and refuse any changed or missing byte', () => {
    const e = entry('a');
    const file = encodeEntry({ entry: e, br: new Uint8Array([1, 2, 3]), gzip: null });
    const back = decodeEntry(file);
    expect(back.entry).toEqual(e);
    expect(back.br).toEqual(new Uint8Array([1, 2, 3]));
    expect(back.gzip).toBeNull();
    expect(decodeEntry(encodeEntry({ entry: e })).br).toBeUndefined();
    for (const at of [0, 5, 20, 200, file.byteLength - 40, file.byteLength - 1]) {
      const bad = new Uint8Array(file);
      bad[at] = (bad[at] as number) ^ 0x40;
      expect(() => decodeEntry(bad), `byte ${at} flipped`).toThrow(CorruptEntryError);
    }
    for (const n of [0, 10, 39, 100, file.byteLength - 33, file.byteLength - 1]) {
      expect(() => decodeEntry(file.subarray(0, n)), `first ${n} bytes`).toThrow(CorruptEntryError);
    }
  });
});

describe('CacheStore on disk', () => {
  it('keeps entries, variants and freshness across a restart', async () => {
    const dir = await tempDir();
    const first = storeOn(dir);
    expect(await first.store.open()).toEqual({ entries: 0, corrupt: 0, expired: 0, partial: 0 });
    const a = entry('a');
    first.store.set(a);
    const br = first.store.body(a, 'br');
    const gzip = first.store.body(a, 'gzip');
    expect(br.encoding).toBe('br');
    first.store.set(entry('b', { freshUntil: 3_000, staleWhileRevalidateUntil: 3_000 }));
    await first.store.flush();
    expect(await entryFiles(dir)).toHaveLength(2);

    const second = storeOn(dir, { now: 4_000 });
    expect(await second.store.open()).toEqual({ entries: 2, corrupt: 0, expired: 0, partial: 0 });
    expect(second.store.size).toBe(0);
    expect(second.store.onDiskOnly('a')).toBe(true);
    const found = await second.store.restore('a');
    expect(found?.freshness).toBe('fresh');
    expect(found?.entry).toEqual(a);
    expect(second.store.size).toBe(1);
    // The variants come back from disk as they were made.
    expect(second.store.body(found?.entry as CacheEntry, 'br')).toEqual(br);
    expect(second.store.body(found?.entry as CacheEntry, 'gzip')).toEqual(gzip);
    // b is stale now but within stale-if-error: restored as such.
    expect((await second.store.restore('b'))?.freshness).toBe('stale-if-error-only');
    // Purge by surrogate key reaches entries only on disk.
    expect(second.store.purge({ kind: 'surrogate-key', key: 'all' })).toBe(2);
    await second.store.flush();
    expect(await entryFiles(dir)).toEqual([]);
  });

  it('drops and deletes corrupt, truncated, half-written and expired files on load', async () => {
    const dir = await tempDir();
    const clock = { now: 2_000 };
    const { store } = storeOn(dir, clock);
    await store.open();
    for (const k of ['good', 'flipped', 'short', 'old']) {
      store.set(
        entry(
          k,
          k === 'old'
            ? { freshUntil: 3_000, staleWhileRevalidateUntil: 4_000, staleIfErrorUntil: 5_000 }
            : {},
        ),
      );
    }
    await store.flush();
    const names = await entryFiles(dir);
    expect(names).toHaveLength(4);
    const files = new Map<string, string>();
    for (const n of names) files.set(decodeEntry(await readFile(join(dir, n))).entry.key, n);
    const fileOf = async (key: string) => join(dir, files.get(key) as string);
    const flipped = await fileOf('flipped');
    const bytes = await readFile(flipped);
    bytes[bytes.byteLength >> 1] = (bytes[bytes.byteLength >> 1] as number) ^ 1;
    await writeFile(flipped, bytes);
    const short = await fileOf('short');
    await truncate(short, (await stat(short)).size - 100);
    await writeFile(join(dir, `${names[0]}.123-1.tmp`), bytes.subarray(0, 50));

    const registry = new Registry();
    const again = new CacheStore({ maxBytes: 1 << 20, registry, now: () => 10_000, disk: { dir } });
    expect(await again.open()).toEqual({ entries: 1, corrupt: 2, expired: 1, partial: 1 });
    expect(await readdir(dir)).toEqual([(await fileOf('good')).slice(dir.length + 1)]);
    expect(await again.restore('flipped')).toBeUndefined();
    expect((await again.restore('good'))?.entry.body).toEqual(html(4000, 'good'));
    const dropped = (reason: string) =>
      metricValue(registry, 'flotilla_shield_cache_disk_dropped_total', { reason });
    expect(await dropped('corrupt')).toBe(2);
    expect(await dropped('partial')).toBe(1);
  });

  it('never serves a file changed after load: it is deleted on read', async () => {
    const dir = await tempDir();
    const { store } = storeOn(dir);
    await store.open();
    store.set(entry('a'));
    await store.flush();
    const again = storeOn(dir).store;
    await again.open();
    const [name] = await entryFiles(dir);
    await truncate(join(dir, name as string), 200);
    expect(again.onDiskOnly('a')).toBe(true);
    expect(await again.restore('a')).toBeUndefined();
    expect(again.onDiskOnly('a')).toBe(false);
    await again.flush();
    expect(await entryFiles(dir)).toEqual([]);
  });

  it('keeps the files within their bound, the least recently used going first', async () => {
    const dir = await tempDir();
    const one = encodeEntry({ entry: entry('k0') }).byteLength;
    const { store, registry } = storeOn(dir, undefined, { maxBytes: Math.floor(one * 3.5) });
    await store.open();
    for (let i = 0; i < 10; i++) store.set(entry(`k${i}`));
    await store.flush();
    const disk = store.disk;
    expect(disk?.size).toBe(3);
    expect(disk?.bytes).toBeLessThanOrEqual(one * 3.5);
    const files = await entryFiles(dir);
    expect(files).toHaveLength(3);
    let onDisk = 0;
    for (const f of files) onDisk += (await stat(join(dir, f))).size;
    expect(onDisk).toBe(disk?.bytes);
    expect(['k7', 'k8', 'k9'].every((k) => disk?.has(k))).toBe(true);
    expect(
      await metricValue(registry, 'flotilla_shield_cache_disk_dropped_total', { reason: 'size' }),
    ).toBe(7);
    expect(await metricValue(registry, 'flotilla_shield_cache_disk_entries')).toBe(3);
  });

  it('keeps an entry evicted from memory on disk, and purges it there (files gone when removalsDone resolves)', async () => {
    const dir = await tempDir();
    const clock = { now: 2_000 };
    const store = new CacheStore({
      maxBytes: 20_000,
      now: () => clock.now,
      disk: { dir },
    });
    await store.open();
    for (let i = 0; i < 8; i++) store.set(entry(`k${i}`));
    expect(store.size).toBeLessThan(8);
    expect(store.onDiskOnly('k0')).toBe(true);
    expect((await store.restore('k0'))?.freshness).toBe('fresh');
    expect(store.purge({ kind: 'path', pattern: '/p/k1' })).toBe(1);
    expect(store.purge({ kind: 'url', url: 'https://shop.example/p/k2' })).toBe(1);
    expect(store.purge({ kind: 'environment', app: 'shop', environment: 'production' })).toBe(6);
    // What a purge's acknowledgement waits for: every purged file gone.
    await store.removalsDone();
    expect(await readdir(dir)).toEqual([]);
  });

  it('counts the records of the entries on disk against the memory bound', async () => {
    const dir = await tempDir();
    const store = new CacheStore({ maxBytes: 40_000, now: () => 2_000, disk: { dir } });
    await store.open();
    for (let i = 0; i < 200; i++) {
      store.set(entry(`k${i}`, { surrogateKeys: [`p-${i}`, 'all'] }));
      expect(store.bytes).toBeLessThanOrEqual(store.maxBytes);
    }
    const disk = store.disk;
    // The records take half of the bound at most; the oldest entries left the disk.
    expect(disk?.indexBytes).toBeLessThanOrEqual(20_000);
    expect(disk?.size).toBeGreaterThan(10);
    expect(disk?.size).toBeLessThan(200);
    expect(store.bytes).toBeGreaterThanOrEqual(store.heldBytes() + (disk?.indexBytes ?? 0));
    await store.flush();
  });
});
