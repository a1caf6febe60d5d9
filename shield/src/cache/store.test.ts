import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { compilePattern, ManifestError } from '@flotilla/manifest';
import { InvalidOptionError } from '@flotilla/protocol';
import { metricValue } from '@flotilla/test-harness';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { isCompressibleType } from './compression.ts';
import { entrySize, freshnessOf } from './entry.ts';
import { CacheStore } from './store.ts';
import type { CacheEntry, PurgeSelector } from './types.ts';

const enc = new TextEncoder();

function entry(key: string, over: Partial<CacheEntry> = {}): CacheEntry {
  return {
    key,
    status: 200,
    headers: [['content-type', 'text/html; charset=utf-8']],
    body: enc.encode(`<p>${key}</p>`),
    storedAt: 0,
    freshUntil: 60_000,
    staleWhileRevalidateUntil: 60_000,
    staleIfErrorUntil: 60_000,
    app: 'shop',
    environment: 'production',
    path: `/p/${key}`,
    url: `shop.example/p/${key}`,
    surrogateKeys: [],
    ...over,
  };
}

/** An HTML body of `n` bytes that compresses well. */
function html(n: number): Uint8Array {
  const line = '<li class="product">Blue shoes, size 42, in stock</li>\n';
  return enc.encode(line.repeat(Math.ceil(n / line.length)).slice(0, n));
}

describe('CacheStore: LRU by bytes', () => {
  it('evicts the least recently used entries beyond maxBytes and counts them', async () => {
    const registry = new Registry();
    const one = entrySize(entry('a'));
    const store = new CacheStore({ maxBytes: one * 3, registry });
    for (const k of ['a', 'b', 'c']) expect(store.set(entry(k))).toBe(true);
    expect(store.size).toBe(3);
    expect(store.bytes).toBe(one * 3);
    expect(store.get('a', 0)).toBeDefined(); // a is now the most recent: b goes first
    store.set(entry('d'));
    expect(store.get('b', 0)).toBeUndefined();
    expect(['a', 'c', 'd'].every((k) => store.get(k, 0) !== undefined)).toBe(true);
    expect(
      await metricValue(registry, 'flotilla_shield_cache_evictions_total', { reason: 'size' }),
    ).toBe(1);
    expect(await metricValue(registry, 'flotilla_shield_cache_entries')).toBe(3);
    expect(await metricValue(registry, 'flotilla_shield_cache_bytes')).toBe(one * 3);
    // A big entry pushes out several small ones.
    const big = entry('big', { body: new Uint8Array(one) }); // about two entries' worth
    store.set(big);
    expect(store.bytes).toBeLessThanOrEqual(store.maxBytes);
    expect(store.get('big', 0)?.entry).toBe(big);
    expect(store.size).toBe(2);
    expect(
      await metricValue(registry, 'flotilla_shield_cache_evictions_total', { reason: 'size' }),
    ).toBe(3);
  });

  it('refuses an entry over maxEntryBytes and drops the outdated one under its key', () => {
    const store = new CacheStore({ maxBytes: 100_000, maxEntryBytes: 2_000 });
    store.set(entry('a'));
    expect(store.set(entry('a', { body: new Uint8Array(5_000) }))).toBe(false);
    expect(store.get('a', 0)).toBeUndefined();
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
  });

  it('replacing an entry re-indexes it and is not an eviction', async () => {
    const registry = new Registry();
    const store = new CacheStore({ registry });
    store.set(entry('k', { url: 'shop.example/old', surrogateKeys: ['old'] }));
    store.set(entry('k', { url: 'shop.example/new', surrogateKeys: ['new'] }));
    expect(store.size).toBe(1);
    expect(store.purge({ kind: 'url', url: 'shop.example/old' })).toBe(0);
    expect(store.purge({ kind: 'surrogate-key', key: 'old' })).toBe(0);
    expect(store.purge({ kind: 'surrogate-key', key: 'new' })).toBe(1);
    expect(
      await metricValue(registry, 'flotilla_shield_cache_evictions_total', { reason: 'size' }),
    ).toBe(0);
    expect(
      await metricValue(registry, 'flotilla_shield_cache_evictions_total', { reason: 'purge' }),
    ).toBe(1);
  });

  it('delete removes one entry', () => {
    const store = new CacheStore();
    store.set(entry('a'));
    expect(store.delete('a')).toBe(true);
    expect(store.delete('a')).toBe(false);
    expect(store.purge({ kind: 'url', url: 'shop.example/p/a' })).toBe(0);
  });

  it('byte accounting never exceeds maxBytes and never leaks', () => {
    const op = fc.oneof(
      fc.record({
        op: fc.constant('set' as const),
        key: fc.integer({ min: 0, max: 15 }),
        bytes: fc.integer({ min: 0, max: 6_000 }),
      }),
      fc.record({ op: fc.constant('get' as const), key: fc.integer({ min: 0, max: 15 }) }),
      fc.record({
        op: fc.constant('body' as const),
        key: fc.integer({ min: 0, max: 15 }),
        ae: fc.constantFrom('br', 'gzip', 'gzip, br', 'identity'),
      }),
      fc.record({ op: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 15 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 2_000, max: 40_000 }),
        fc.array(op, { maxLength: 60 }),
        (maxBytes, ops) => {
          const store = new CacheStore({ maxBytes });
          for (const o of ops) {
            const key = `k${o.key}`;
            if (o.op === 'set') store.set(entry(key, { body: html(o.bytes) }));
            else if (o.op === 'get') store.get(key, 0);
            else if (o.op === 'delete') store.delete(key);
            else {
              const found = store.get(key, 0);
              if (found) store.body(found.entry, o.ae);
            }
            if (store.bytes > maxBytes) return false;
          }
          // Accounting never leaks: with every entry gone, nothing is counted.
          let held = 0;
          for (let k = 0; k < 16; k++) if (store.delete(`k${k}`)) held++;
          return held <= 16 && store.size === 0 && store.bytes === 0;
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('CacheStore: memory accounting', () => {
  it('counts at least every byte its entries keep alive, bodies that were views included', () => {
    const store = new CacheStore({ maxBytes: 4 << 20 });
    // As bodies arrive from NATS: views into a much larger read buffer.
    const readBuffer = new Uint8Array(256 * 1024);
    for (let i = 0; i < 40; i++) {
      readBuffer.set(html(3000), i * 6000);
      const body = readBuffer.subarray(i * 6000, i * 6000 + 3000);
      const e = entry(`v${i}`, { body });
      expect(store.set(e)).toBe(true);
      store.body(e, 'br');
      store.body(e, 'gzip');
      // The stored copy is exact, and the same bytes.
      const kept = store.get(`v${i}`, 0)?.entry.body as Uint8Array;
      expect(kept.buffer.byteLength).toBe(3000);
      expect(kept).toEqual(html(3000));
    }
    expect(store.heldBytes()).toBeGreaterThan(40 * 3000);
    expect(store.bytes).toBeGreaterThanOrEqual(store.heldBytes());
  });
});

describe('CacheStore: freshness with an injected clock', () => {
  it('goes fresh → stale → stale-if-error-only → expired (removed)', async () => {
    const registry = new Registry();
    let now = 0;
    const store = new CacheStore({ registry, now: () => now });
    store.set(
      entry('a', {
        storedAt: 0,
        freshUntil: 10_000,
        staleWhileRevalidateUntil: 20_000,
        staleIfErrorUntil: 80_000,
      }),
    );
    expect(store.get('a')?.freshness).toBe('fresh');
    now = 9_999;
    expect(store.get('a')?.freshness).toBe('fresh');
    now = 10_000;
    expect(store.get('a')?.freshness).toBe('stale');
    now = 19_999;
    expect(store.get('a')?.freshness).toBe('stale');
    now = 20_000;
    expect(store.get('a')?.freshness).toBe('stale-if-error-only');
    expect(store.get('a', 5_000)?.freshness).toBe('fresh'); // an explicit `now` wins
    now = 80_000;
    expect(store.get('a')).toBeUndefined();
    expect(store.size).toBe(0);
    expect(
      await metricValue(registry, 'flotilla_shield_cache_evictions_total', { reason: 'expired' }),
    ).toBe(1);
    expect(await metricValue(registry, 'flotilla_shield_cache_entries')).toBe(0);
  });

  it('keeps a copy through stale-while-revalidate when stale-if-error is shorter', () => {
    const e = entry('a', { freshUntil: 10, staleWhileRevalidateUntil: 100, staleIfErrorUntil: 50 });
    expect(freshnessOf(e, 60)).toBe('stale');
    expect(freshnessOf(e, 100)).toBeUndefined();
  });

  it('prune removes expired entries and hit-for-pass markers', async () => {
    const registry = new Registry();
    const store = new CacheStore({ registry });
    store.set(
      entry('old', { freshUntil: 10, staleWhileRevalidateUntil: 10, staleIfErrorUntil: 10 }),
    );
    store.set(entry('new'));
    store.markHitForPass('x', 100);
    store.markHitForPass('y', 1_000_000);
    expect(store.prune(50_000)).toEqual({ entries: 1, hitForPassKeys: 1 });
    expect(store.size).toBe(1);
    expect(store.hitForPassKeys).toBe(1);
    expect(await metricValue(registry, 'flotilla_shield_cache_hit_for_pass_keys')).toBe(1);
    expect(store.purge({ kind: 'url', url: 'shop.example/p/old' })).toBe(0);
  });
});

describe('CacheStore: purge', () => {
  function filled(): CacheStore {
    const store = new CacheStore();
    store.set(
      entry('p1-br', {
        url: 'shop.example/p/1',
        path: '/p/1',
        surrogateKeys: ['product-1', 'all'],
      }),
    );
    store.set(
      entry('p1-gz', { url: 'shop.example/p/1', path: '/p/1', surrogateKeys: ['product-1'] }),
    );
    store.set(
      entry('p1q', { url: 'shop.example/p/1?color=red', path: '/p/1', surrogateKeys: ['all'] }),
    );
    store.set(entry('p2', { url: 'shop.example/p/2/reviews', path: '/p/2/reviews' }));
    store.set(entry('home', { url: 'shop.example/', path: '/', surrogateKeys: ['all'] }));
    store.set(
      entry('staging-p1', {
        environment: 'staging',
        url: 'staging.shop.example/p/1',
        path: '/p/1',
        surrogateKeys: ['product-1'],
      }),
    );
    store.set(
      entry('blog-p1', {
        app: 'blog',
        url: 'blog.example/p/1',
        path: '/p/1',
        surrogateKeys: ['product-1'],
      }),
    );
    store.set(
      entry('preview', { environment: '', url: 'shop-abc.preview.localhost/p/1', path: '/p/1' }),
    );
    return store;
  }
  const left = (store: CacheStore) =>
    ['p1-br', 'p1-gz', 'p1q', 'p2', 'home', 'staging-p1', 'blog-p1', 'preview'].filter(
      (k) => store.get(k, 0) !== undefined,
    );

  it('by exact URL (every key variant of it, not its query variants)', async () => {
    const registry = new Registry();
    const store = filled();
    expect(store.purge({ kind: 'url', url: 'https://SHOP.example/p/1' })).toBe(2);
    expect(left(store)).toEqual(['p1q', 'p2', 'home', 'staging-p1', 'blog-p1', 'preview']);
    expect(store.purge({ kind: 'url', url: 'shop.example/p/1?color=red' })).toBe(1);
    expect(store.purge({ kind: 'url', url: 'shop.example/nothing' })).toBe(0);
    const counted = new CacheStore({ registry });
    counted.set(entry('a'));
    counted.purge({ kind: 'url', url: 'shop.example/p/a' });
    expect(
      await metricValue(registry, 'flotilla_shield_cache_evictions_total', { reason: 'purge' }),
    ).toBe(1);
  });

  it('by path pattern, narrowed by app and environment', () => {
    let store = filled();
    expect(
      store.purge({ kind: 'path', pattern: '/p/:id', app: 'shop', environment: 'production' }),
    ).toBe(3);
    expect(left(store)).toEqual(['p2', 'home', 'staging-p1', 'blog-p1', 'preview']);
    store = filled();
    expect(store.purge({ kind: 'path', pattern: '/p/:rest*', app: 'shop' })).toBe(6);
    expect(left(store)).toEqual(['home', 'blog-p1']);
    store = filled();
    expect(store.purge({ kind: 'path', pattern: '/p/:id', environment: 'staging' })).toBe(1);
    store = filled();
    expect(store.purge({ kind: 'path', pattern: '/:all*' })).toBe(8);
    expect(store.size).toBe(0);
  });

  it('by surrogate key, optionally within one app', () => {
    let store = filled();
    expect(store.purge({ kind: 'surrogate-key', key: 'product-1', app: 'shop' })).toBe(3);
    expect(left(store)).toEqual(['p1q', 'p2', 'home', 'blog-p1', 'preview']);
    store = filled();
    expect(store.purge({ kind: 'surrogate-key', key: 'product-1' })).toBe(4);
    expect(store.purge({ kind: 'surrogate-key', key: 'all' })).toBe(2);
  });

  it('by environment (preview hosts have the empty environment)', () => {
    const store = filled();
    expect(store.purge({ kind: 'environment', app: 'shop', environment: 'production' })).toBe(5);
    expect(left(store)).toEqual(['staging-p1', 'blog-p1', 'preview']);
    expect(store.purge({ kind: 'environment', app: 'shop', environment: '' })).toBe(1);
  });

  it('names a bad selector', () => {
    const store = filled();
    expect(() => store.purge({ kind: 'path', pattern: 'p/*' })).toThrow(ManifestError);
    expect(() => store.purge({ kind: 'path', pattern: 'p/*' })).toThrow(/selector\.pattern/);
    expect(() => store.purge({ kind: 'url', url: '' })).toThrow(/selector\.url/);
    expect(() => store.purge({ kind: 'nope' } as unknown as PurgeSelector)).toThrow(
      /selector\.kind/,
    );
    expect(store.size).toBe(8);
  });

  it('never removes an entry the selector does not match, and removes every one it does', () => {
    const entryArb = fc.record({
      app: fc.constantFrom('shop', 'blog'),
      environment: fc.constantFrom('production', 'staging', ''),
      path: fc.constantFrom('/', '/p/1', '/p/2', '/p/1/reviews', '/about', '/a%2Fb'),
      query: fc.constantFrom('', '?x=1'),
      tags: fc.subarray(['t1', 't2', 't3']),
    });
    const selectorArb: fc.Arbitrary<PurgeSelector> = fc.oneof(
      fc.record({
        kind: fc.constant('url' as const),
        url: fc.constantFrom('shop.example/p/1', 'blog.example/', 'shop.example/p/2?x=1'),
      }),
      fc.record(
        {
          kind: fc.constant('path' as const),
          pattern: fc.constantFrom('/p/:id', '/p/:r*', '/:a+', '/about', '/'),
          app: fc.constantFrom('shop', 'blog'),
          environment: fc.constantFrom('production', 'staging', ''),
        },
        { requiredKeys: ['kind', 'pattern'] },
      ),
      fc.record(
        {
          kind: fc.constant('surrogate-key' as const),
          key: fc.constantFrom('t1', 't2', 't3'),
          app: fc.constantFrom('shop', 'blog'),
        },
        { requiredKeys: ['kind', 'key'] },
      ),
      fc.record({
        kind: fc.constant('environment' as const),
        app: fc.constantFrom('shop', 'blog'),
        environment: fc.constantFrom('production', 'staging', ''),
      }),
    );
    const matches = (e: CacheEntry, s: PurgeSelector): boolean => {
      switch (s.kind) {
        case 'url':
          return e.url === s.url;
        case 'path':
          return (
            (s.app === undefined || e.app === s.app) &&
            (s.environment === undefined || e.environment === s.environment) &&
            compilePattern(s.pattern).match(e.path) !== undefined
          );
        case 'surrogate-key':
          return (s.app === undefined || e.app === s.app) && e.surrogateKeys.includes(s.key);
        case 'environment':
          return e.app === s.app && e.environment === s.environment;
      }
    };
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 30 }), selectorArb, (specs, selector) => {
        const store = new CacheStore();
        const all = specs.map((s, i) =>
          entry(`k${i}`, {
            app: s.app,
            environment: s.environment,
            path: s.path,
            url: `${s.app}.example${s.path}${s.query}`,
            surrogateKeys: s.tags,
          }),
        );
        for (const e of all) store.set(e);
        const removed = store.purge(selector);
        let expectedRemoved = 0;
        for (const e of all) {
          const held = store.get(e.key, 0) !== undefined;
          const hit = matches(e, selector);
          if (hit) expectedRemoved++;
          if (held === hit) return false;
        }
        return removed === expectedRemoved;
      }),
      { numRuns: 300 },
    );
  });
});

describe('CacheStore: compressed variants', () => {
  it('serves br and gzip variants that decompress to the identity body, made once', async () => {
    const registry = new Registry();
    const store = new CacheStore({ registry });
    const body = html(20_000);
    store.set(entry('a', { body }));
    const before = store.bytes;
    const found = store.get('a', 0);
    if (!found) throw new Error('missing');
    const br = store.body(found.entry, 'gzip, deflate, br');
    expect(br.encoding).toBe('br');
    expect(Buffer.from(brotliDecompressSync(br.body)).equals(Buffer.from(body))).toBe(true);
    expect(br.body.byteLength).toBeLessThan(body.byteLength / 5);
    expect(store.bytes).toBe(before + br.body.byteLength);
    expect(store.body(found.entry, 'br').body).toBe(br.body); // kept, not compressed again
    const gz = store.body(found.entry, 'gzip');
    expect(gz.encoding).toBe('gzip');
    expect(Buffer.from(gunzipSync(gz.body)).equals(Buffer.from(body))).toBe(true);
    expect(store.bytes).toBe(before + br.body.byteLength + gz.body.byteLength);
    expect(await metricValue(registry, 'flotilla_shield_cache_bytes')).toBe(store.bytes);
    expect(store.body(found.entry, 'br;q=0, gzip').encoding).toBe('gzip');
    expect(store.body(found.entry, undefined)).toEqual({ body, encoding: 'identity' });
    expect(store.body(found.entry, 'identity').body).toBe(body);
    // The variants go with the entry.
    store.delete('a');
    expect(store.bytes).toBe(0);
  });

  it('leaves alone what must not or need not be compressed', () => {
    const store = new CacheStore();
    const cases: Array<Partial<CacheEntry>> = [
      { body: html(1023) },
      { headers: [['content-type', 'image/png']], body: html(5000) },
      { headers: [], body: html(5000) },
      {
        headers: [
          ['content-type', 'text/html'],
          ['content-encoding', 'gzip'],
        ],
        body: html(5000),
      },
      {
        headers: [
          ['content-type', 'application/json'],
          ['cache-control', 'public, no-transform'],
        ],
        body: html(5000),
      },
      {
        headers: [
          ['content-type', 'text/plain'],
          ['content-range', 'bytes 0-4999/10000'],
        ],
        body: html(5000),
      },
    ];
    cases.forEach((over, i) => {
      const e = entry(`c${i}`, over);
      store.set(e);
      const before = store.bytes;
      const out = store.body(e, 'br, gzip');
      expect(out.encoding, `case ${i}`).toBe('identity');
      expect(out.body).toBe(e.body);
      expect(store.bytes).toBe(before);
    });
  });

  it('sends identity when compression does not help, and remembers it', () => {
    const store = new CacheStore();
    const noise = new Uint8Array(4096);
    crypto.getRandomValues(noise);
    const e = entry('n', { headers: [['content-type', 'application/json']], body: noise });
    store.set(e);
    const before = store.bytes;
    expect(store.body(e, 'br').encoding).toBe('identity');
    expect(store.body(e, 'br').encoding).toBe('identity');
    expect(store.bytes).toBe(before);
  });

  it('compresses an entry no longer stored without keeping the variant', () => {
    const store = new CacheStore();
    const e = entry('gone', { body: html(4000) });
    const out = store.body(e, 'gzip');
    expect(out.encoding).toBe('gzip');
    expect(Buffer.from(gunzipSync(out.body)).toString()).toBe(Buffer.from(e.body).toString());
    expect(store.bytes).toBe(0);
  });

  it('classifies content types', () => {
    for (const t of [
      'text/html; charset=utf-8',
      'application/json',
      'image/svg+xml',
      'application/ld+json',
      'TEXT/CSS',
    ]) {
      expect(isCompressibleType(t), t).toBe(true);
    }
    for (const t of [
      'image/png',
      'video/mp4',
      'application/octet-stream',
      'text/event-stream',
      undefined,
    ]) {
      expect(isCompressibleType(t), String(t)).toBe(false);
    }
  });
});

describe('CacheStore: hit-for-pass', () => {
  it('marks a key until its end, then forgets it', async () => {
    const registry = new Registry();
    let now = 1_000;
    const store = new CacheStore({ registry, now: () => now });
    store.markHitForPass('k', now + 120_000);
    expect(store.isHitForPass('k')).toBe(true);
    expect(await metricValue(registry, 'flotilla_shield_cache_hit_for_pass_keys')).toBe(1);
    now += 119_999;
    expect(store.isHitForPass('k')).toBe(true);
    now += 1;
    expect(store.isHitForPass('k')).toBe(false);
    expect(store.hitForPassKeys).toBe(0);
    expect(await metricValue(registry, 'flotilla_shield_cache_hit_for_pass_keys')).toBe(0);
    expect(store.isHitForPass('never', now)).toBe(false);
  });

  it('is bounded and can be cleared', () => {
    const store = new CacheStore({ hitForPassMaxKeys: 3 });
    for (const k of ['a', 'b', 'c', 'd']) store.markHitForPass(k, 10_000);
    expect(store.hitForPassKeys).toBe(3);
    expect(store.isHitForPass('a', 0)).toBe(false);
    expect(store.isHitForPass('d', 0)).toBe(true);
    store.clearHitForPass('d');
    expect(store.isHitForPass('d', 0)).toBe(false);
    store.clearHitForPass();
    expect(store.hitForPassKeys).toBe(0);
    expect(() => store.markHitForPass('x', Number.NaN)).toThrow(/untilMs/);
  });
});

describe('CacheStore: options and entries are validated', () => {
  it.each([
    [{ maxBytes: 0 }, 'maxBytes'],
    [{ maxBytes: 1.5 }, 'maxBytes'],
    [{ maxBytes: 100, maxEntryBytes: 200 }, 'maxEntryBytes'],
    [{ hitForPassMaxKeys: -1 }, 'hitForPassMaxKeys'],
    [{ compressMinBytes: -1 }, 'compressMinBytes'],
    [{ brotliQuality: 12 }, 'brotliQuality'],
    [{ gzipLevel: 10 }, 'gzipLevel'],
    [{ now: 5 }, 'now'],
    [{ registry: {} }, 'registry'],
  ])('%o names %s', (options, name) => {
    expect(() => new CacheStore(options as never)).toThrow(InvalidOptionError);
    expect(() => new CacheStore(options as never)).toThrow(`"${name}"`);
  });

  it.each([
    ['key', ''],
    ['body', 'text'],
    ['status', 42],
    ['headers', {}],
    ['freshUntil', Number.NaN],
    ['url', undefined],
    ['surrogateKeys', [1]],
  ])('an entry with a bad %s is refused', (field, value) => {
    const store = new CacheStore();
    expect(() => store.set({ ...entry('a'), [field]: value } as CacheEntry)).toThrow(
      `entry.${field}`,
    );
  });

  it('two stores on one registry share the series instead of throwing', () => {
    const registry = new Registry();
    new CacheStore({ registry });
    expect(() => new CacheStore({ registry })).not.toThrow();
  });
});
