/**
 * The shield's hot path: fresh hits a full pass has resolved once, served
 * again without routing, key computation or header building, as cheap as
 * plain `node:http`.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CacheKeySpec, type Manifest, normalizeAcceptEncoding } from '@flotilla/manifest';
import type { AccessLog } from './access-log.ts';
import type { EdgeCache } from './cache/edge-cache.ts';
import { CACHE_STATUS_HEADER } from './cache/headers.ts';
import type { CacheEntry } from './cache/types.ts';
import type { ShieldMetrics } from './metrics.ts';
import type { HeaderRecord } from './response.ts';
import type { SiteDirectory } from './site-directory.ts';
import { now } from './timing.ts';

/** A hit the hot path may serve again. */
interface HotHit {
  /** The site snapshot it was resolved in: any environment change ends it. */
  snapshot: object;
  key: string;
  entry: CacheEntry;
  status: number;
  /** Response headers, flat (name, value, …), without `age` and `cache-status`. */
  head: string[];
  body: Uint8Array;
  app: string;
  /** For its access line. */
  environment?: string;
  deployment?: string;
  /**
   * `head` with `age` and `cache-status` for the second they were made in:
   * both change once a second, so a popular page builds them once a second,
   * not once a request.
   */
  sent?: { age: number; ttl: number; head: string[] };
}

/** Per app, the metric children a hot hit counts with. */
interface HotMetrics {
  requests: { inc(n?: number): void };
  seconds: { observe(v: number): void };
  /** Hot hits not yet added to `requests` (added when the metrics are read). */
  uncounted: number;
}

/** Most signatures remembered: a flood of distinct URLs only costs the memo, never memory. */
const MAX_HOT = 10_000;

const ENCODINGS = new Map<string, string>();

/** `accept-encoding` as the key holds it, remembered for the few values clients send. */
function encodingOf(header: string | string[] | undefined): string {
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
  let encoding = ENCODINGS.get(raw);
  if (encoding === undefined) {
    encoding = normalizeAcceptEncoding(raw);
    if (ENCODINGS.size >= 256) ENCODINGS.clear();
    ENCODINGS.set(raw, encoding);
  }
  return encoding;
}

const DYNAMIC_HIT_HEADERS = new Set(['age', 'cache-status', 'server-timing']);

/** A header record as the flat list `writeHead` takes, minus the per-hit headers. */
function flatHeaders(headers: HeaderRecord): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (DYNAMIC_HIT_HEADERS.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}

/** A key with nothing but host, path, query and encoding (what the hot signature holds). */
function isPlainKey(spec: CacheKeySpec | undefined): boolean {
  return (
    spec === undefined ||
    (spec.cookies.length === 0 &&
      spec.headers.length === 0 &&
      !spec.device &&
      !spec.browser &&
      !spec.isBot &&
      !spec.vendor)
  );
}

const READS_HEADERS = new WeakMap<Manifest, boolean>();

/** True when some route of the manifest matches on headers or cookies. */
function routesReadHeaders(manifest: Manifest): boolean {
  let reads = READS_HEADERS.get(manifest);
  if (reads === undefined) {
    reads = manifest.routes.some((r) => r.criteria.headers || r.criteria.cookies);
    READS_HEADERS.set(manifest, reads);
  }
  return reads;
}

/** The signature of a request for the memo; undefined when it may not use it. */
function signatureOf(req: IncomingMessage): string | undefined {
  const method = req.method;
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  if (req.headers['x-flotilla-debug'] !== undefined) return undefined;
  // Conditional requests take the full path (it answers 304).
  if (req.headers['if-none-match'] !== undefined) return undefined;
  return `${method}\n${req.headers.host ?? ''}\n${req.url ?? ''}\n${encodingOf(req.headers['accept-encoding'])}`;
}

/** A stored answer a full pass served, offered to {@link HotHits.remember}. */
export interface ServedHit {
  key: string;
  entry: CacheEntry;
  status: number;
  headers: HeaderRecord;
  body: Uint8Array;
  app: string;
  /** The environment and deployment it was served for (its access line says them). */
  environment?: string;
  deployment?: string;
  /** The manifest the route was matched in. */
  manifest: Manifest;
  /** The route's cache-key spec. */
  spec: CacheKeySpec | undefined;
  /** Whether the answer depends on the environment (not a preview host), and on no split test. */
  plainSite: boolean;
}

/** Options of {@link HotHits}. */
export interface HotHitsOptions {
  /** The cache whose stored entries the hits are (their freshness is checked on each hit). */
  cache: EdgeCache;
  /** The sites the hits were routed in: a new snapshot ends every hit. */
  sites: SiteDirectory;
  metrics: ShieldMetrics;
  region: string;
  /** Gets the app and cache status of each hit served here. @default none */
  access?: AccessLog;
  /** The cache's name in `Cache-Status`. @default 'flotilla' */
  cacheName?: string;
  /** The shield's own stage in `Server-Timing`. @default 'shield' */
  stage?: string;
}

/**
 * Hits a full pass has already resolved, by request signature (method,
 * Host, URL, normalised accept-encoding), for requests nothing else can
 * change: no keyed cookie, header, device or browser, no split test, no
 * route matching on headers or cookies. Valid only for the site snapshot
 * and the stored entry it was made from. Counts what it serves in plain
 * numbers, added to the request counter when the metrics are read.
 */
export class HotHits {
  readonly #hot = new Map<string, HotHit>();
  readonly #metrics = new Map<string, HotMetrics>();
  readonly #cache: EdgeCache;
  readonly #sites: SiteDirectory;
  readonly #shieldMetrics: ShieldMetrics;
  readonly #region: string;
  readonly #access: AccessLog | undefined;
  readonly #cacheName: string;
  readonly #stage: string;

  constructor(options: HotHitsOptions) {
    this.#access = options.access;
    this.#cacheName = options.cacheName ?? 'flotilla';
    this.#stage = options.stage ?? 'shield';
    this.#cache = options.cache;
    this.#sites = options.sites;
    this.#shieldMetrics = options.metrics;
    this.#region = options.region;
    this.#shieldMetrics.beforeRead.add(this.flush);
  }

  /** Remembers a hit the full pass served, when nothing but its signature can change it. */
  remember(req: IncomingMessage, hit: ServedHit): void {
    if (!hit.plainSite || !isPlainKey(hit.spec) || routesReadHeaders(hit.manifest)) return;
    const signature = signatureOf(req);
    if (signature === undefined) return;
    if (this.#hot.size >= MAX_HOT) this.#hot.clear();
    this.#hot.set(signature, {
      snapshot: this.#sites.version,
      key: hit.key,
      entry: hit.entry,
      status: hit.status,
      head: flatHeaders(hit.headers),
      // A Buffer view (no copy): what node:http writes without converting.
      body: Buffer.from(hit.body.buffer, hit.body.byteOffset, hit.body.byteLength),
      app: hit.app,
      ...(hit.environment === undefined ? {} : { environment: hit.environment }),
      ...(hit.deployment === undefined ? {} : { deployment: hit.deployment }),
    });
  }

  /**
   * Serves a fresh hit a full pass resolved before. Falls back (false) on
   * anything else.
   */
  serve(req: IncomingMessage, res: ServerResponse, started: number): boolean {
    if (this.#hot.size === 0) return false;
    const signature = signatureOf(req);
    if (signature === undefined) return false;
    const hot = this.#hot.get(signature);
    if (!hot) return false;
    const nowMs = this.#cache.now();
    const found = this.#cache.store.get(hot.key, nowMs);
    if (
      !found ||
      found.entry !== hot.entry ||
      found.freshness !== 'fresh' ||
      hot.snapshot !== this.#sites.version
    ) {
      this.#hot.delete(signature);
      return false;
    }
    req.resume();
    this.#access?.note(req, {
      app: hot.app,
      cache: 'hit',
      ...(hot.environment === undefined ? {} : { environment: hot.environment }),
      ...(hot.deployment === undefined ? {} : { deployment: hot.deployment }),
    });
    const entry = hot.entry;
    const age = Math.max(0, Math.floor((nowMs - entry.storedAt) / 1000));
    const ttl = Math.floor((entry.freshUntil - nowMs) / 1000);
    let sent = hot.sent;
    if (sent === undefined || sent.age !== age || sent.ttl !== ttl) {
      const head = hot.head.slice();
      head.push('age', String(age), CACHE_STATUS_HEADER, `${this.#cacheName}; hit; ttl=${ttl}`);
      sent = { age, ttl, head };
      hot.sent = sent;
    }
    // Server-Timing on hits too: the shield's own time is the whole answer.
    res.writeHead(hot.status, [
      ...sent.head,
      'server-timing',
      `${this.#stage};dur=${(now() - started).toFixed(2)}`,
    ]);
    res.end(req.method === 'HEAD' ? undefined : hot.body);
    let m = this.#metrics.get(hot.app);
    if (!m) {
      m = {
        requests: this.#shieldMetrics.requests.labels({
          app: hot.app,
          status: String(hot.status),
          region: this.#region,
          cache: 'hit',
        }),
        seconds: this.#shieldMetrics.requestSeconds.labels({ app: hot.app, region: this.#region }),
        uncounted: 0,
      };
      this.#metrics.set(hot.app, m);
    }
    m.uncounted++;
    m.seconds.observe((now() - started) / 1000);
    return true;
  }

  /** Forgets every hit (a redirect table changed: a path it now redirects must not be served). */
  clear(): void {
    this.#hot.clear();
  }

  /** Adds the hot hits counted since the last read to the request counter. */
  readonly flush = (): void => {
    for (const m of this.#metrics.values()) {
      if (m.uncounted === 0) continue;
      m.requests.inc(m.uncounted);
      m.uncounted = 0;
    }
  };

  /** Counts what is left and stops adding at metric reads. */
  close(): void {
    this.flush();
    this.#shieldMetrics.beforeRead.delete(this.flush);
  }
}
