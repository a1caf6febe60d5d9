/**
 * Validation of `manifest.json` and of its parts (route criteria, cache
 * options, cache-key specs), with errors naming the bad field.
 *
 * @module
 */
import { ManifestError } from './errors.ts';
import { compilePattern } from './pattern.ts';
import type {
  BrowserCacheOptions,
  BundleFramework,
  CacheKeySpec,
  EdgeCacheOptions,
  HeaderOp,
  HttpMethod,
  Manifest,
  ManifestAsset,
  ManifestLimits,
  ManifestRoute,
  RouteAction,
  RouteCacheOptions,
  RouteCriteria,
} from './types.ts';

/** HTTP methods a route may list. */
export const HTTP_METHODS: readonly HttpMethod[] = Object.freeze([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
]);

/** Status codes a redirect may use. */
export const REDIRECT_STATUS_CODES: readonly number[] = Object.freeze([301, 302, 303, 307, 308]);

/** The keys a manifest's `limits` may have, in the order of {@link ManifestLimits}. */
export const MANIFEST_LIMIT_KEYS: readonly (keyof ManifestLimits)[] = Object.freeze([
  'cpuMs',
  'wallMs',
  'heapMb',
  'outputBytes',
  'bundleBytes',
  'backendResponseBytes',
]);

/** The smallest isolate heap, in MB (isolated-vm refuses less). */
const MIN_HEAP_MB = 8;

const FRAMEWORKS: readonly BundleFramework[] = ['react', 'vue', 'none'];
const APP_NAME = /^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$/;
const BACKEND_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ORIGIN = /^https?:\/\/[^/?#@\s]+\/?$/i;
const HEX64 = /^[0-9a-f]{64}$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HOST = /^[a-z0-9.\-[\]:]+$/;

type Fail = (field: string, problem: string) => never;

function failWith(context?: string): Fail {
  return (field, problem) => {
    throw new ManifestError(field, problem, context === undefined ? {} : { context });
  };
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  }
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function record(
  value: unknown,
  field: string,
  known: readonly string[],
  fail: Fail,
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, `must be an object (got ${show(value)})`);
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      fail(join(field, key), `is not a known field (known: ${known.join(', ')})`);
    }
  }
  return obj;
}

function join(field: string, key: string): string {
  const safe = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
  if (field === '') return safe;
  return safe.startsWith('"') ? `${field}[${safe}]` : `${field}.${safe}`;
}

function nonNegativeInt(value: unknown, field: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(field, `must be a non-negative integer (got ${show(value)})`);
  }
  return value as number;
}

function bool(value: unknown, field: string, fail: Fail): boolean {
  if (typeof value !== 'boolean') fail(field, `must be true or false (got ${show(value)})`);
  return value as boolean;
}

function string(value: unknown, field: string, fail: Fail): string {
  if (typeof value !== 'string' || value === '') {
    fail(field, `must be a non-empty string (got ${show(value)})`);
  }
  return value as string;
}

function array(value: unknown, field: string, fail: Fail): unknown[] {
  if (!Array.isArray(value)) fail(field, `must be an array (got ${show(value)})`);
  return value as unknown[];
}

function stringList(
  value: unknown,
  field: string,
  fail: Fail,
  check?: (s: string, f: string) => string,
): string[] {
  return array(value, field, fail).map((item, i) => {
    const s = string(item, `${field}[${i}]`, fail);
    return check ? check(s, `${field}[${i}]`) : s;
  });
}

/** A header name: an HTTP token, returned lower-cased. */
function headerName(value: unknown, field: string, fail: Fail): string {
  const s = string(value, field, fail);
  if (!TOKEN.test(s)) fail(field, `must be an HTTP header name (a token) (got ${show(s)})`);
  return s.toLowerCase();
}

function headerValue(value: unknown, field: string, fail: Fail): string {
  if (typeof value !== 'string') fail(field, `must be a string (got ${show(value)})`);
  if (/[\r\n\0]/.test(value as string)) fail(field, 'must not contain CR, LF or NUL');
  return value as string;
}

function matchTable(
  value: unknown,
  field: string,
  fail: Fail,
  normaliseName: (name: string, field: string) => string,
): Record<string, string | true> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, `must be an object of name → exact value or true (got ${show(value)})`);
  }
  const out: Record<string, string | true> = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    const f = join(field, name);
    if (name === '__proto__') fail(f, 'is not an allowed name');
    const key = normaliseName(name, f);
    if (v !== true && typeof v !== 'string') {
      fail(f, `must be an exact value (a string) or true for "present" (got ${show(v)})`);
    }
    out[key] = v as string | true;
  }
  return out;
}

/**
 * Validates route criteria and returns a normalised copy (methods upper
 * case, hosts and header names lower case).
 *
 * @param value - The criteria, e.g. `{ path: '/p/:id', method: ['GET'] }`.
 * @param field - Names the criteria in messages. @default 'criteria'
 * @param context - Put before the field in messages (e.g. `manifest`).
 * @throws ManifestError naming the bad field.
 */
export function validateRouteCriteria(
  value: unknown,
  field = 'criteria',
  context?: string,
): RouteCriteria {
  const fail = failWith(context);
  const c = record(value, field, ['path', 'method', 'host', 'query', 'headers', 'cookies'], fail);
  const path = string(c.path, join(field, 'path'), fail);
  try {
    compilePattern(path, join(field, 'path'));
  } catch (err) {
    if (err instanceof ManifestError) fail(err.field, err.problem);
    throw err;
  }
  const out: RouteCriteria = { path };
  if (c.method !== undefined) {
    const f = join(field, 'method');
    const methods = stringList(c.method, f, fail, (m, mf) => {
      const upper = m.toUpperCase();
      if (!(HTTP_METHODS as readonly string[]).includes(upper)) {
        fail(mf, `must be one of ${HTTP_METHODS.join(', ')} (got ${show(m)})`);
      }
      return upper;
    });
    if (methods.length === 0)
      fail(f, 'must list at least one method (leave it out for every method)');
    out.method = [...new Set(methods)] as HttpMethod[];
  }
  if (c.host !== undefined) {
    const f = join(field, 'host');
    const hosts = stringList(c.host, f, fail, (h, hf) => {
      const lower = h.toLowerCase();
      if (!HOST.test(lower))
        fail(hf, `must be a host name without scheme or path (got ${show(h)})`);
      if (
        /:[0-9]*$/.test(lower) &&
        !lower.endsWith(']') &&
        lower.indexOf(':') === lower.lastIndexOf(':')
      ) {
        fail(hf, `must not have a port (got ${show(h)})`);
      }
      return lower;
    });
    if (hosts.length === 0) fail(f, 'must list at least one host (leave it out for every host)');
    out.host = hosts;
  }
  if (c.query !== undefined) out.query = matchTable(c.query, join(field, 'query'), fail, (n) => n);
  if (c.headers !== undefined) {
    out.headers = matchTable(c.headers, join(field, 'headers'), fail, (n, f) =>
      headerName(n, f, fail),
    );
  }
  if (c.cookies !== undefined) {
    out.cookies = matchTable(c.cookies, join(field, 'cookies'), fail, (n, f) => {
      if (!TOKEN.test(n)) fail(f, 'is not a valid cookie name');
      return n;
    });
  }
  return out;
}

/**
 * Validates a cache-key spec and returns a copy (header names lower case).
 *
 * @param value - The spec.
 * @param field - Names it in messages. @default 'key'
 * @param context - Put before the field in messages.
 * @throws ManifestError naming the bad field.
 */
export function validateCacheKeySpec(
  value: unknown,
  field = 'key',
  context?: string,
): CacheKeySpec {
  const fail = failWith(context);
  const k = record(value, field, ['query', 'cookies', 'headers', 'device', 'browser'], fail);
  const qf = join(field, 'query');
  const q = record(k.query, qf, ['mode', 'names'], fail);
  let query: CacheKeySpec['query'];
  if (q.mode === 'all') {
    if (q.names !== undefined) fail(join(qf, 'names'), 'must be absent when mode is "all"');
    query = { mode: 'all' };
  } else if (q.mode === 'only' || q.mode === 'exclude') {
    const names = stringList(q.names, join(qf, 'names'), fail);
    if (q.mode === 'exclude' && names.length === 0) {
      fail(join(qf, 'names'), 'must list at least one parameter when mode is "exclude"');
    }
    query = { mode: q.mode, names: [...new Set(names)] };
  } else {
    return fail(join(qf, 'mode'), `must be "all", "only" or "exclude" (got ${show(q.mode)})`);
  }
  const cookies = stringList(k.cookies, join(field, 'cookies'), fail, (n, f) => {
    if (!TOKEN.test(n)) fail(f, `must be a cookie name (got ${show(n)})`);
    return n;
  });
  const headers = stringList(k.headers, join(field, 'headers'), fail, (n, f) =>
    headerName(n, f, fail),
  );
  return {
    query,
    cookies: [...new Set(cookies)],
    headers: [...new Set(headers)],
    device: bool(k.device, join(field, 'device'), fail),
    browser: bool(k.browser, join(field, 'browser'), fail),
  };
}

/**
 * Validates cache options (as `cache({...})` takes them, with `key` already
 * a {@link CacheKeySpec}) and returns a copy. Every number is a
 * non-negative integer of seconds; unknown fields are refused by name.
 *
 * @param value - The options.
 * @param field - Names them in messages. @default 'cache'
 * @param context - Put before the field in messages.
 * @throws ManifestError naming the bad field, e.g. `cache.edge.maxAgeSeconds`.
 * @example
 * validateCacheOptions({ edge: { maxAgeSeconds: 60 } }); // ok
 * validateCacheOptions({ edge: { maxAge: 60 } });
 * // ManifestError: cache.edge.maxAge is not a known field (known: maxAgeSeconds, …)
 */
export function validateCacheOptions(
  value: unknown,
  field = 'cache',
  context?: string,
): RouteCacheOptions {
  const fail = failWith(context);
  const c = record(value, field, ['edge', 'browser', 'key'], fail);
  const out: RouteCacheOptions = {};
  if (c.edge !== undefined) {
    const f = join(field, 'edge');
    if (c.edge === false) {
      out.edge = false;
    } else {
      if (c.edge === true)
        fail(f, 'must be false (never cache) or an object of edge options (got true)');
      const e = record(
        c.edge,
        f,
        ['maxAgeSeconds', 'staleWhileRevalidateSeconds', 'forcePrivateCaching'],
        fail,
      );
      const edge: EdgeCacheOptions = {};
      if (e.maxAgeSeconds !== undefined) {
        edge.maxAgeSeconds = nonNegativeInt(e.maxAgeSeconds, join(f, 'maxAgeSeconds'), fail);
      }
      if (e.staleWhileRevalidateSeconds !== undefined) {
        edge.staleWhileRevalidateSeconds = nonNegativeInt(
          e.staleWhileRevalidateSeconds,
          join(f, 'staleWhileRevalidateSeconds'),
          fail,
        );
      }
      if (e.forcePrivateCaching !== undefined) {
        edge.forcePrivateCaching = bool(
          e.forcePrivateCaching,
          join(f, 'forcePrivateCaching'),
          fail,
        );
      }
      out.edge = edge;
    }
  }
  if (c.browser !== undefined) {
    const f = join(field, 'browser');
    const b = record(c.browser, f, ['maxAgeSeconds', 'serviceWorkerSeconds'], fail);
    const browser: BrowserCacheOptions = {};
    if (b.maxAgeSeconds !== undefined) {
      browser.maxAgeSeconds = nonNegativeInt(b.maxAgeSeconds, join(f, 'maxAgeSeconds'), fail);
    }
    if (b.serviceWorkerSeconds !== undefined) {
      browser.serviceWorkerSeconds = nonNegativeInt(
        b.serviceWorkerSeconds,
        join(f, 'serviceWorkerSeconds'),
        fail,
      );
    }
    out.browser = browser;
  }
  if (c.key !== undefined) out.key = validateCacheKeySpec(c.key, join(field, 'key'), context);
  return out;
}

function validateAction(
  value: unknown,
  field: string,
  backends: Record<string, string> | undefined,
  fail: Fail,
): RouteAction {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, `must be an object (got ${show(value)})`);
  }
  const kind = (value as Record<string, unknown>).kind;
  const kf = join(field, 'kind');
  switch (kind) {
    case 'render':
    case 'headers':
      record(value, field, ['kind'], fail);
      return { kind };
    case 'proxy': {
      const a = record(value, field, ['kind', 'backend', 'path'], fail);
      const backend = string(a.backend, join(field, 'backend'), fail);
      if (backends && !Object.hasOwn(backends, backend)) {
        const declared = Object.keys(backends);
        fail(
          join(field, 'backend'),
          `names no declared backend (got ${show(backend)}; declared: ${declared.length ? declared.join(', ') : 'none'})`,
        );
      }
      const out: RouteAction = { kind, backend };
      if (a.path !== undefined) {
        const path = string(a.path, join(field, 'path'), fail);
        if (!path.startsWith('/'))
          fail(join(field, 'path'), `must start with "/" (got ${show(path)})`);
        out.path = path;
      }
      return out;
    }
    case 'redirect': {
      const a = record(value, field, ['kind', 'to', 'statusCode'], fail);
      const to = string(a.to, join(field, 'to'), fail);
      if (!to.startsWith('/') && !/^https?:\/\//i.test(to)) {
        fail(join(field, 'to'), `must be a path ("/…") or an http(s) URL (got ${show(to)})`);
      }
      if (/[\r\n\0]/.test(to)) fail(join(field, 'to'), 'must not contain CR, LF or NUL');
      if (typeof a.statusCode !== 'number' || !REDIRECT_STATUS_CODES.includes(a.statusCode)) {
        fail(
          join(field, 'statusCode'),
          `must be one of ${REDIRECT_STATUS_CODES.join(', ')} (got ${show(a.statusCode)})`,
        );
      }
      return { kind, to, statusCode: a.statusCode as number };
    }
    case 'static': {
      const a = record(value, field, ['kind', 'dir', 'permanent', 'exclude'], fail);
      const dir = string(a.dir, join(field, 'dir'), fail);
      if (dir.split(/[\\/]/).includes('..')) {
        fail(join(field, 'dir'), `must not contain ".." segments (got ${show(dir)})`);
      }
      const out: RouteAction = {
        kind,
        dir,
        permanent: bool(a.permanent, join(field, 'permanent'), fail),
      };
      if (a.exclude !== undefined)
        out.exclude = stringList(a.exclude, join(field, 'exclude'), fail);
      return out;
    }
    default:
      return fail(
        kf,
        `must be one of render, proxy, redirect, static, headers (got ${show(kind)})`,
      );
  }
}

function validateHeaderOp(value: unknown, field: string, fail: Fail): HeaderOp {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, `must be an object (got ${show(value)})`);
  }
  const op = (value as Record<string, unknown>).op;
  switch (op) {
    case 'setResponse':
    case 'setRequest': {
      const h = record(value, field, ['op', 'name', 'value'], fail);
      return {
        op,
        name: headerName(h.name, join(field, 'name'), fail),
        value: headerValue(h.value, join(field, 'value'), fail),
      };
    }
    case 'removeResponse':
    case 'removeUpstreamResponse':
    case 'removeRequest': {
      const h = record(value, field, ['op', 'name'], fail);
      return { op, name: headerName(h.name, join(field, 'name'), fail) };
    }
    default:
      return fail(
        join(field, 'op'),
        `must be one of setResponse, removeResponse, removeUpstreamResponse, setRequest, removeRequest (got ${show(op)})`,
      );
  }
}

/**
 * Validates one route. `id` must equal `index`.
 *
 * @param backends - The manifest's backends; a proxy route must name one of
 * them. Absent: not checked.
 */
export function validateRoute(
  value: unknown,
  index: number,
  field = `routes[${index}]`,
  context?: string,
  backends?: Record<string, string>,
): ManifestRoute {
  const fail = failWith(context);
  const r = record(
    value,
    field,
    ['id', 'criteria', 'fallback', 'action', 'cache', 'headerOps'],
    fail,
  );
  if (r.id !== index)
    fail(join(field, 'id'), `must be ${index}, the route's index (got ${show(r.id)})`);
  const route: ManifestRoute = {
    id: index,
    criteria: validateRouteCriteria(r.criteria, join(field, 'criteria'), context),
    fallback: bool(r.fallback, join(field, 'fallback'), fail),
    action: validateAction(r.action, join(field, 'action'), backends, fail),
    headerOps: array(r.headerOps, join(field, 'headerOps'), fail).map((op, i) =>
      validateHeaderOp(op, `${join(field, 'headerOps')}[${i}]`, fail),
    ),
  };
  if (r.cache !== undefined)
    route.cache = validateCacheOptions(r.cache, join(field, 'cache'), context);
  return route;
}

/**
 * Validates the sandbox limits a deployment asks for and returns a copy
 * (keys in {@link MANIFEST_LIMIT_KEYS} order). Each is a positive integer,
 * `heapMb` at least 8; unknown keys are refused by name. Whether a limit is
 * above the operator's is not checked here: a worker clamps it.
 *
 * @param value - The limits, e.g. `{ cpuMs: 200, heapMb: 64 }`.
 * @param field - Names them in messages. @default 'limits'
 * @param context - Put before the field in messages (e.g. `manifest`).
 * @throws ManifestError naming the bad field, e.g. `limits.cpuMs`.
 * @example
 * validateManifestLimits({ cpuMs: 200 }); // { cpuMs: 200 }
 * validateManifestLimits({ cpuMs: 0 });
 * // ManifestError: limits.cpuMs must be a positive integer (got 0)
 */
export function validateManifestLimits(
  value: unknown,
  field = 'limits',
  context?: string,
): ManifestLimits {
  const fail = failWith(context);
  const l = record(value, field, MANIFEST_LIMIT_KEYS, fail);
  const out: ManifestLimits = {};
  for (const key of MANIFEST_LIMIT_KEYS) {
    const v = l[key];
    if (v === undefined) continue;
    const f = join(field, key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      fail(f, `must be a positive integer (got ${show(v)})`);
    }
    if (key === 'heapMb' && (v as number) < MIN_HEAP_MB) {
      fail(f, `must be at least ${MIN_HEAP_MB} (got ${show(v)})`);
    }
    out[key] = v as number;
  }
  return out;
}

function validateAsset(value: unknown, field: string, fail: Fail): ManifestAsset {
  const a = record(value, field, ['path', 'hash', 'bytes', 'contentType', 'permanent'], fail);
  const path = string(a.path, join(field, 'path'), fail);
  if (!path.startsWith('/') || /[?#\s]/.test(path) || path.split('/').includes('..')) {
    fail(
      join(field, 'path'),
      `must be a URL path starting with "/", without "..", "?", "#" or spaces (got ${show(path)})`,
    );
  }
  const hash = string(a.hash, join(field, 'hash'), fail);
  if (!HEX64.test(hash))
    fail(join(field, 'hash'), `must be a sha256 in lower-case hex (got ${show(hash)})`);
  const contentType = string(a.contentType, join(field, 'contentType'), fail);
  if (/[\r\n\0]/.test(contentType))
    fail(join(field, 'contentType'), 'must not contain CR, LF or NUL');
  return {
    path,
    hash,
    bytes: nonNegativeInt(a.bytes, join(field, 'bytes'), fail),
    contentType,
    permanent: bool(a.permanent, join(field, 'permanent'), fail),
  };
}

/**
 * Validates a parsed `manifest.json` (version 2) and returns a normalised
 * copy typed {@link Manifest}. Unknown fields are refused, so a typo never
 * silently drops a cache option.
 *
 * @param json - The parsed JSON.
 * @throws ManifestError (`FLOTILLA_ERR_BUNDLE`) naming the bad field, e.g.
 * `manifest: routes[3].criteria.path "p/:id" must start with "/"`.
 * @example
 * const manifest = validateManifest(JSON.parse(await readFile('dist/manifest.json', 'utf8')));
 */
export function validateManifest(json: unknown): Manifest {
  const context = 'manifest';
  const fail = failWith(context);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ManifestError('manifest', `must be a JSON object (got ${show(json)})`);
  }
  const m = record(
    json,
    '',
    [
      'manifestVersion',
      'name',
      'framework',
      'bundleHash',
      'bundleBytes',
      'contentHash',
      'builtAt',
      'routes',
      'backends',
      'assets',
      'limits',
    ],
    fail,
  );
  if (m.manifestVersion !== 2) {
    fail(
      'manifestVersion',
      `must be 2 (got ${show(m.manifestVersion)}); rebuild the app with this version of flotilla`,
    );
  }
  const name = string(m.name, 'name', fail);
  if (!APP_NAME.test(name)) {
    fail(
      'name',
      `must be 1-50 lower-case letters, digits or "-", not starting or ending with "-" (with its 13-character hash suffix a deployment id stays one 63-character host label) (got ${show(name)})`,
    );
  }
  if (!FRAMEWORKS.includes(m.framework as BundleFramework)) {
    fail('framework', `must be one of ${FRAMEWORKS.join(', ')} (got ${show(m.framework)})`);
  }
  const bundleHash = string(m.bundleHash, 'bundleHash', fail);
  if (!HEX64.test(bundleHash))
    fail('bundleHash', `must be a sha256 in lower-case hex (got ${show(bundleHash)})`);
  const contentHash = string(m.contentHash, 'contentHash', fail);
  if (!HEX64.test(contentHash)) {
    fail('contentHash', `must be a sha256 in lower-case hex (got ${show(contentHash)})`);
  }
  const builtAt = string(m.builtAt, 'builtAt', fail);
  if (Number.isNaN(Date.parse(builtAt)))
    fail('builtAt', `must be an ISO 8601 date (got ${show(builtAt)})`);

  if (typeof m.backends !== 'object' || m.backends === null || Array.isArray(m.backends)) {
    fail('backends', `must be an object of name → origin (got ${show(m.backends)})`);
  }
  const backends: Record<string, string> = {};
  for (const [backend, origin] of Object.entries(m.backends as Record<string, unknown>)) {
    const f = join('backends', backend);
    if (!BACKEND_NAME.test(backend)) {
      fail(
        f,
        'is not a valid backend name: 1-63 of a-z, 0-9, "-", "_", starting with a letter or digit',
      );
    }
    if (typeof origin !== 'string' || !ORIGIN.test(origin)) {
      fail(f, `must be an http(s) origin such as "https://api.example" (got ${show(origin)})`);
    }
    backends[backend] = origin as string;
  }

  const routes = array(m.routes, 'routes', fail).map((route, i) =>
    validateRoute(route, i, `routes[${i}]`, context, backends),
  );
  const seen = new Set<string>();
  const assets = array(m.assets, 'assets', fail).map((asset, i) => {
    const a = validateAsset(asset, `assets[${i}]`, fail);
    if (seen.has(a.path)) fail(`assets[${i}].path`, `repeats ${show(a.path)}`);
    seen.add(a.path);
    return a;
  });

  const manifest: Manifest = {
    manifestVersion: 2,
    name,
    framework: m.framework as BundleFramework,
    bundleHash,
    bundleBytes: nonNegativeInt(m.bundleBytes, 'bundleBytes', fail),
    contentHash,
    builtAt,
    routes,
    backends,
    assets,
  };
  if (m.limits !== undefined) manifest.limits = validateManifestLimits(m.limits, 'limits', context);
  return manifest;
}
