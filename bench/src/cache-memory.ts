/**
 * Cache memory: the shield cache's memory (RSS) against its byte bound
 * (`--cache-mb`), after filling it with many pages as the shield stores
 * them; and its store on disk (`--cache-dir`) loaded again as after a restart.
 *
 * A real nats-server; a responder process answers each miss with an HTML
 * page of 2–50 KB (text of realistic compressibility; made in its own
 * process so its garbage is not the cache's). This process runs the
 * shield's cache (`EdgeCache`, the class the shield runs, with its store on
 * disk in a temp dir, bound twice the memory's) and fills it through its own
 * miss path over NATS, so bodies arrive as the shield receives them (views
 * into the NATS client's read buffers). Each stored page is then asked for
 * in `br` and in `gzip`, as browsers do, so the store keeps identity + br +
 * gzip variants. The cache is filled with `BENCH_CACHE_FILL` times its bound
 * (evicting as it goes), garbage is collected, and the RSS is read from
 * `process.memoryUsage()`. Run with the fleet's Node flags (run-all does).
 *
 * Baseline, same run, same process: the RSS before the fill (NATS client,
 * the modules loaded, the empty cache). Ratios: growth = (RSS − baseline) ÷
 * bound, the memory the cache costs for each byte it may hold (target ≤
 * 1.5; before the store copied bodies out of NATS buffers and counted its
 * objects this bench measured 3.0 at 128 MiB, RSS 4.0× the bound), and RSS ÷
 * bound (the fixed ~120 MiB of the process weighs less the larger the
 * bound). Also printed: the bytes the store counts (never above the bound)
 * and the bytes its entries keep alive, so the accounting can be read
 * (counted ≥ held), and V8 heap per entry (what `ENTRY_OVERHEAD` covers).
 *
 * Disk: after the fill the writes are flushed, and a second cache opens the
 * same directory (every file read and checked): load time and entries, and
 * the latency of the first lookups, each restored from disk.
 *
 * Run: node bench/src/run-all.ts cache-memory
 * Env: BENCH_CACHE_MB (the bound, default 256: the shield's default),
 *      BENCH_CACHE_FILL (how many times the bound is filled, default 2).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeRenderResult, encodeRenderResult, type RenderResult } from '@flotilla/protocol';
import { EdgeCache } from '@flotilla/shield';
import { startNatsServer } from '@flotilla/test-harness';
import { NatsTransport } from '@flotilla/transport';
import { connect } from '@nats-io/transport-node';
import { benchTempDir, hardTimeout, runBench } from './bench-process.ts';
import { now, p50p99, printResult, round, table } from './stats.ts';

const CACHE_MB = Number(process.env.BENCH_CACHE_MB ?? 256);
const FILL = Number(process.env.BENCH_CACHE_FILL ?? 2);
const SUBJECT = 'bench.cache-memory.page';

const WORDS = (
  'the quick brown fox jumps over lazy dog product price cart basket shop review stars ' +
  'shipping delivery free returns colour size small medium large add to wishlist compare ' +
  'description details specification warranty brand model stock available sold out'
).split(' ');

/** An HTML page of about `bytes` bytes, different for each `seed`. */
function page(seed: number, bytes: number): Uint8Array {
  let x = seed * 2654435761;
  const next = () => {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    return x;
  };
  const parts: string[] = [`<!doctype html><html><head><title>Page ${seed}</title></head><body>`];
  let n = parts[0]?.length ?? 0;
  while (n < bytes - 20) {
    const id = next() % 100000;
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(WORDS[next() % WORDS.length] as string);
    const p = `<div class="card" data-id="${id}"><p>${words.join(' ')}</p><span>${next() % 999}.99</span></div>\n`;
    parts.push(p);
    n += p.length;
  }
  parts.push('</body></html>');
  return new TextEncoder().encode(parts.join(''));
}

/** Size of page `i`: 2–50 KB, most of them small (as a site's pages). */
function sizeOf(i: number): number {
  const r = ((i * 7919) % 1000) / 1000;
  return Math.round(2048 + r * r * 48 * 1024);
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

/** Runs the bench, prints its table and the RESULT line, and returns the figures. */
export async function main(): Promise<Record<string, unknown>> {
  hardTimeout('cache-memory', 170_000);
  if (!(globalThis as { gc?: unknown }).gc) {
    throw new Error('run with --expose-gc (node bench/src/run-all.ts cache-memory does)');
  }
  const nats = await startNatsServer();
  // The pages are made in another process: their garbage is not the cache's.
  const responder = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--responder', nats.url],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    responder.stdout.once('data', () => resolve());
    responder.once('exit', (code) => reject(new Error(`the responder exited (${code})`)));
  });
  const client = new NatsTransport({ connection: await connect({ servers: nats.url }) });
  const dir = await benchTempDir('cache-memory');
  try {
    const maxBytes = CACHE_MB * 1024 * 1024;
    const disk = { dir: dir.path, maxBytes: 2 * maxBytes };
    const cache = new EdgeCache({ maxBytes, disk });
    await cache.open();
    gc();
    const baseline = process.memoryUsage();

    let stored = 0;
    let i = 0;
    const batch = 32;
    while (stored < FILL * maxBytes) {
      const keys = Array.from({ length: batch }, (_, j) => i + j);
      i += batch;
      const answers = await Promise.all(
        keys.map((k) =>
          cache.serve(
            {
              key: `bench.example/p/${k}`,
              method: 'GET',
              route: { edge: { maxAgeSeconds: 3600 } },
              debug: false,
              postCacheable: false,
              requestBodyBytes: 0,
              setCookieRemoved: false,
              app: 'bench',
              environment: 'production',
              path: `/p/${k}`,
              url: `bench.example/p/${k}`,
            },
            async () => {
              const reply = await client.request(
                SUBJECT,
                { headers: {}, body: new TextEncoder().encode(String(k)) },
                { timeoutMs: 30_000 },
              );
              return { result: decodeRenderResult(reply), region: undefined };
            },
          ),
        ),
      );
      for (const answer of answers) {
        if (answer.kind !== 'response' || !answer.entry) throw new Error('a page was not stored');
        stored += answer.entry.body.byteLength;
        cache.store.body(answer.entry, 'br');
        cache.store.body(answer.entry, 'gzip');
      }
    }
    gc();
    const after = process.memoryUsage();
    const counted = cache.store.bytes;
    const held = cache.store.heldBytes();
    const grown = after.rss - baseline.rss;
    const rows = [
      ['measure', 'MiB'],
      ['bound (--cache-mb)', CACHE_MB],
      ['counted by the store', mb(counted)],
      ['held by its entries (bodies, variants, strings)', mb(held)],
      ['RSS before the fill', mb(baseline.rss)],
      ['RSS after the fill', mb(after.rss)],
      ['RSS growth', mb(grown)],
      ['V8 heap used after', mb(after.heapUsed)],
      ['V8 heap total after', mb(after.heapTotal)],
      [
        'V8 heap growth per entry (bytes)',
        Math.round((after.heapUsed - baseline.heapUsed) / Math.max(1, cache.store.size)),
      ],
      ['external after', mb(after.external)],
      ['array buffers after', mb(after.arrayBuffers)],
    ];
    console.log(
      `cache-memory: ${i} pages of 2–50 KB (identity + br + gzip) through EdgeCache over real NATS, ${FILL}× a ${CACHE_MB} MiB bound; node ${process.version}`,
    );
    console.log(table(rows));

    // As after a restart: a second cache on the same directory.
    await cache.store.flush();
    const onDisk = cache.store.disk?.size ?? 0;
    const reopened = new EdgeCache({ maxBytes, disk });
    const opening = now();
    await reopened.open();
    const openMs = now() - opening;
    const restoreMs: number[] = [];
    for (let k = i - 1; k >= 0 && restoreMs.length < 200; k -= 7) {
      const key = `bench.example/p/${k}`;
      if (!reopened.store.onDiskOnly(key)) continue;
      const t = now();
      const found = await reopened.store.restore(key);
      restoreMs.push(now() - t);
      if (found?.freshness !== 'fresh') throw new Error(`${key} was not restored fresh`);
    }
    const restore = p50p99(restoreMs);
    console.log('');
    console.log(
      table([
        ['disk (--cache-dir)', 'value'],
        ['entries on disk after the fill', onDisk],
        ['entries loaded by a new cache', reopened.store.disk?.size ?? 0],
        ['load (read and check every file), ms', round(openMs, 0)],
        ['first lookup restored from disk, p50 ms', round(restore.p50, 3)],
        ['first lookup restored from disk, p99 ms', round(restore.p99, 3)],
      ]),
    );
    const result = {
      bench: 'cache-memory',
      cacheMb: CACHE_MB,
      pages: i,
      entries: cache.store.size,
      countedBytes: counted,
      heldBytes: held,
      baselineRssBytes: baseline.rss,
      rssBytes: after.rss,
      heapUsedBytes: after.heapUsed,
      arrayBuffersBytes: after.arrayBuffers,
      growthRatio: round(grown / maxBytes, 2),
      rssRatio: round(after.rss / maxBytes, 2),
      target: 1.5,
      disk: {
        entries: onDisk,
        loaded: reopened.store.disk?.size ?? 0,
        loadMs: round(openMs, 0),
        restoreMs: { p50: round(restore.p50, 3), p99: round(restore.p99, 3) },
      },
    };
    printResult(result);
    return result;
  } finally {
    await dir.remove();
    await client.drain();
    responder.kill('SIGTERM');
    await nats.stop();
  }
}

/** The responder process: answers each page request until killed. */
async function respond(url: string): Promise<void> {
  const connection = await connect({ servers: url });
  const transport = new NatsTransport({ connection });
  transport.serve(SUBJECT, async (msg) => {
    const i = Number(new TextDecoder().decode(msg.body));
    const result: RenderResult = {
      ok: true,
      status: 200,
      headers: [
        ['content-type', 'text/html; charset=utf-8'],
        ['cache-control', 'public, max-age=3600'],
        ['surrogate-key', `page-${i} pages`],
      ],
      body: page(i, sizeOf(i)),
      timings: {},
    };
    return encodeRenderResult(result);
  });
  await connection.flush();
  process.stdout.write('ready\n');
}

if (import.meta.main) {
  if (process.argv[2] === '--responder') await respond(process.argv[3] as string);
  else await runBench('cache-memory', main);
}
