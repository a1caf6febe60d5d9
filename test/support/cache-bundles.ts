/**
 * Hand-written bundles (and their manifests' routes with cache options) for
 * the suites of the shield's L2 cache across processes, and readers of the
 * cache headers of the shield's replies (sent with the harness's
 * `httpRequest`).
 *
 * Every render of these bundles says which render it was: `render <n> of
 * <isolate> (#<k> for <path>)`, so two bodies differ exactly when they come
 * from two renders.
 *
 * @module
 */
import type { ManifestRoute, RouteCacheOptions } from '@flotilla/manifest';
import type { HttpReply, TestBundle } from '@flotilla/test-harness';

/** A render route on `path`, with `cache` options when given. */
function render(id: number, path: string, cache?: RouteCacheOptions): ManifestRoute {
  return {
    id,
    criteria: { path },
    fallback: false,
    action: { kind: 'render' },
    ...(cache ? { cache } : {}),
    headerOps: [],
  };
}

/** Edge cache options: fresh `maxAgeSeconds`, then stale-while-revalidate for `swr`. */
function edge(maxAgeSeconds: number, swr?: number): RouteCacheOptions {
  return {
    edge: { maxAgeSeconds, ...(swr !== undefined ? { staleWhileRevalidateSeconds: swr } : {}) },
  };
}

/** How long a leader of `/slow/:id` renders: long enough for a thousand requests to pile up. */
export const SLOW_RENDER_MS = 200;
/** How long `/hang/:id` (and `/hang-stale/:id` after its first render) renders. */
export const HANG_RENDER_MS = 8000;
/** How long the renders of `/fail-once`, `/cookie` and `/private` take. */
export const RENDER_MS = 300;
/**
 * How long a render of `/swr/:id` takes: the stale copy must answer every
 * request of a burst before the one revalidation is done, even on a busy machine.
 */
export const SWR_RENDER_MS = 1000;

/**
 * App `cachetest`. The first path segment picks the behaviour:
 *
 * | path               | route cache            | render                                         |
 * | ------------------ | ---------------------- | ---------------------------------------------- |
 * | `/slow/:id`        | edge 60 s              | 200 ms                                         |
 * | `/swr/:id`         | edge 1 s + swr 30 s    | 1 s                                            |
 * | `/fail-once/:id`   | edge 60 s              | 300 ms, throws the first time (per path)       |
 * | `/hang/:id`        | edge 60 s              | 8 s                                            |
 * | `/hang-stale/:id`  | edge 1 s               | at once the first time, then 8 s               |
 * | `/cookie/:id`      | edge 60 s              | 300 ms, answers with `set-cookie`              |
 * | `/private/:id`     | edge 60 s              | 300 ms, answers `cache-control: private`       |
 * | `/purge/:id`       | edge 300 s             | tagged `surrogate-key: purge-<id> purge-all`   |
 * | `/fresh/:id`       | edge 300 s             | at once                                        |
 * | `/expiring/:id`    | edge 1 s               | at once (stale-if-error: the 60 s default)     |
 * | `/swr-out/:id`     | edge 1 s + swr 300 s   | at once                                        |
 * | `/m/:case`         | none: headers decide   | the response headers of {@link MATRIX} `case`  |
 * | anything else      | none                   | at once, no `cache-control` (never stored)     |
 *
 * The state (render counts per path) lives in the isolate: the suites run
 * one worker with one thread, so there is exactly one isolate.
 */
export const CACHE_APP: TestBundle = {
  name: 'cachetest',
  routes: [
    render(0, '/slow/:id', edge(60)),
    render(1, '/swr/:id', edge(1, 30)),
    render(2, '/fail-once/:id', edge(60)),
    render(3, '/hang/:id', edge(60)),
    render(4, '/hang-stale/:id', edge(1)),
    render(5, '/cookie/:id', edge(60)),
    render(6, '/private/:id', edge(60)),
    render(7, '/purge/:id', edge(300)),
    render(8, '/fresh/:id', edge(300)),
    render(9, '/expiring/:id', edge(1)),
    render(10, '/swr-out/:id', edge(1, 300)),
    render(11, '/m/:case'),
    render(12, '/:path*'),
  ],
  code: `
const counts = new Map();
let seq = 0;
const isolate = crypto.randomUUID().slice(0, 8);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MATRIX = {
  's-maxage': { status: 200, headers: { 'cache-control': 'public, s-maxage=60' } },
  'max-age': { status: 200, headers: { 'cache-control': 'max-age=60' } },
  private: { status: 200, headers: { 'cache-control': 'private, max-age=60' } },
  'no-store': { status: 200, headers: { 'cache-control': 'no-store' } },
  'vary-star': { status: 200, headers: { 'cache-control': 'max-age=60', vary: '*' } },
  'set-cookie': { status: 200, headers: { 'cache-control': 'max-age=60', 'set-cookie': 'm=1; Path=/' } },
  'not-found': { status: 404, headers: { 'cache-control': 'max-age=60' } },
  moved: { status: 301, headers: { 'cache-control': 'max-age=60', location: '/m/max-age' } },
  'no-lifetime': { status: 200, headers: {} },
};
Flotilla.serve(async (req) => {
  const path = new URL(req.url).pathname;
  const n = (counts.get(path) ?? 0) + 1;
  counts.set(path, n);
  const tag = 'render ' + ++seq + ' of ' + isolate + ' (#' + n + ' for ' + path + ')';
  const text = (what, headers = {}, status = 200) =>
    new Response(what + ' ' + path + '\\n' + tag + '\\n', {
      status,
      headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
    });
  const kind = path.split('/')[1];
  switch (kind) {
    case 'slow':
      await sleep(${SLOW_RENDER_MS});
      return text('slow');
    case 'swr':
      await sleep(${SWR_RENDER_MS});
      return text('swr');
    case 'fail-once':
      await sleep(${RENDER_MS});
      if (n === 1) throw new Error('the first render of ' + path + ' fails');
      return text('recovered');
    case 'hang':
      await sleep(${HANG_RENDER_MS});
      return text('hung');
    case 'hang-stale':
      if (n > 1) await sleep(${HANG_RENDER_MS});
      return text('hang-stale');
    case 'cookie':
      await sleep(${RENDER_MS});
      return text('cookie', { 'set-cookie': 'sid=' + seq + '; Path=/; HttpOnly' });
    case 'private':
      await sleep(${RENDER_MS});
      return text('private', { 'cache-control': 'private' });
    case 'purge':
      return text('purge', { 'surrogate-key': 'purge-' + path.split('/')[2] + ' purge-all' });
    case 'm': {
      const c = MATRIX[path.split('/')[2]];
      if (!c) return text('no such case', {}, 400);
      return text('matrix', c.headers, c.status);
    }
    default:
      return text(kind || 'home');
  }
});
`,
};

/**
 * Response headers of the matrix cases of {@link CACHE_APP} (`/m/:case`, a
 * route without cache options: the response decides), with what the shield
 * must say about the first response (a miss) and the second.
 */
export const MATRIX: ReadonlyArray<{
  case: string;
  status: number;
  /** `x-flotilla-caching-status` of the first response. */
  caching: string;
  /** Whether the first response is stored (then the second is a hit, else hit-for-pass). */
  stored: boolean;
}> = [
  { case: 's-maxage', status: 200, caching: 'ok', stored: true },
  { case: 'max-age', status: 200, caching: 'ok', stored: true },
  { case: 'moved', status: 301, caching: 'ok', stored: true },
  { case: 'private', status: 200, caching: 'private', stored: false },
  { case: 'no-store', status: 200, caching: 'private', stored: false },
  { case: 'vary-star', status: 200, caching: 'vary', stored: false },
  { case: 'set-cookie', status: 200, caching: 'set-cookie', stored: false },
  { case: 'not-found', status: 404, caching: 'code', stored: false },
  { case: 'no-lifetime', status: 200, caching: 'no-max-age', stored: false },
];

/**
 * App `reflect`: a page that believes and reflects everything, the target
 * of the poisoning suite. `/reflect/…` answers its method, URL and every
 * request header in the body; `/go/…` answers 302 with all of that (and the
 * host, scheme, prefix and path a naive app would take from forwarding and
 * override headers) in the `Location`, and in the body. Both routes cache
 * at the edge for 300 s.
 */
export const REFLECT_APP: TestBundle = {
  name: 'reflect',
  routes: [
    render(0, '/reflect/:rest*', edge(300)),
    render(1, '/go/:rest*', edge(300)),
    render(2, '/:path*'),
  ],
  code: `
Flotilla.serve((req) => {
  const url = new URL(req.url);
  const h = req.headers;
  const lines = ['method=' + req.method, 'url=' + req.url];
  for (const [name, value] of h) lines.push('h:' + name + '=' + value);
  const all = lines.join('\\n');
  if (url.pathname.startsWith('/go/')) {
    const host = h.get('x-forwarded-host') ?? h.get('x-host') ?? h.get('x-original-host') ?? h.get('forwarded') ?? h.get('host') ?? url.host;
    const proto = h.get('x-forwarded-proto') ?? h.get('x-forwarded-scheme') ?? url.protocol;
    const prefix = h.get('x-forwarded-prefix') ?? '';
    const path = h.get('x-original-url') ?? h.get('x-rewrite-url') ?? url.pathname;
    const q = (s) => encodeURIComponent(s);
    const location = '/landing?host=' + q(host) + '&proto=' + q(proto) + '&prefix=' + q(prefix) +
      '&path=' + q(path) + '&url=' + q(req.url) + '&all=' + q(all);
    return new Response('redirecting\\n' + all, {
      status: 302,
      headers: { location, 'content-type': 'text/plain; charset=utf-8' },
    });
  }
  return new Response(all, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
});
`,
};

/**
 * App `vault`, the target of the cache-deception suite: a naive app server
 * that decodes the path and drops `;params` and a `#fragment` before routing
 * (as many do), so `/account%2fx.css` or `/account;x.css` is its account
 * page. The account page answers `cache-control: private`, the profile page
 * sets a cookie; both show the visitor's `session` cookie. Its routes (the
 * way a careless developer would declare them) cache everything at the edge
 * for 60 s: `/account/:rest*`, `/profile/:rest*` and the catch-all.
 */
export const VAULT_APP: TestBundle = {
  name: 'vault',
  routes: [
    render(0, '/account/:rest*', edge(60)),
    render(1, '/profile/:rest*', edge(60)),
    render(2, '/:path*', edge(60)),
  ],
  code: `
Flotilla.serve((req) => {
  let path = new URL(req.url).pathname;
  try { path = decodeURIComponent(path); } catch {}
  path = path.split(';')[0].split('#')[0];
  const session = /(?:^|;\\s*)session=([^;]*)/.exec(req.headers.get('cookie') ?? '')?.[1] ?? 'anonymous';
  const html = { 'content-type': 'text/html; charset=utf-8' };
  if (path === '/account' || path.startsWith('/account/')) {
    return new Response('account page of ' + session, { headers: { ...html, 'cache-control': 'private' } });
  }
  if (path === '/profile' || path.startsWith('/profile/')) {
    return new Response('profile of ' + session, {
      headers: { ...html, 'set-cookie': 'seen=' + session + '; Path=/; HttpOnly' },
    });
  }
  return new Response('public page ' + path, { headers: html });
});
`,
};

/** `Cache-Status` of a reply (`''` when absent). */
export function cacheStatus(reply: HttpReply): string {
  return reply.headers['cache-status'] ?? '';
}

/** `x-flotilla-caching-status` of a reply (`''` when absent). */
export function cachingStatus(reply: HttpReply): string {
  return reply.headers['x-flotilla-caching-status'] ?? '';
}

/** True when `Cache-Status` says the reply came from a stored copy without going forward. */
export function isHit(reply: HttpReply): boolean {
  return /^flotilla; hit\b/.test(cacheStatus(reply));
}
