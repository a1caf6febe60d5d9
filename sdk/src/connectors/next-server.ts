/**
 * The part of a Next.js app's `bundle.js` that answers requests inside the
 * isolate (bundled by `flotilla build`; no Node built-ins): it routes as
 * Next's routing table says (the `beforeMiddleware` redirects, then the app's
 * middleware, then the `rsc` header choosing the RSC twin or segment of a
 * page), answers prerendered
 * pages from the build, and hands the rest to the edge functions Next built
 * (`self._ENTRIES[entryKey].handler(request, ctx)`), which the bundle
 * evaluated before this code, or to the Node-runtime functions
 * (`handler(req, res, ctx)`, loaded from the module map the bundle defined,
 * `globalThis.__flotillaNextModules`, on `@flotilla/node-compat`'s Node
 * runtime, with Node `req`/`res` over the web request and response).
 *
 * @module
 */
import {
  createNodeRuntime,
  type ModuleMap,
  NodeResponse,
  type NodeRuntime,
  toNodeRequest,
} from '@flotilla/node-compat';

/** A page Next prerendered at build time, as the bundle answers it. */
export interface NextPrerender {
  status: number;
  /** Next's own headers for it (`content-type`, `vary`, `x-next-cache-tags`, …). */
  headers: Record<string, string>;
  /** The body: text, or base64 when {@link NextPrerender.base64} (an image, say). */
  body: string;
  base64?: boolean;
  /** Seconds until Next would regenerate it; `false`: never (a static page). */
  revalidate: number | false;
}

/** An edge function of the build (a page or route handler with `runtime = 'edge'`). */
export interface NextEdgeFunction {
  /** Its page, e.g. `/p/[id]`, for messages. */
  page: string;
  /** The key of its handler in `self._ENTRIES`. */
  entryKey: string;
  /** JavaScript regular expressions (sources) of the paths it serves. */
  matchers: string[];
}

/** A Node-runtime function of the build (Next's default runtime), rendered at request time. */
export interface NextNodeFunction {
  /** Its page, e.g. `/account`, for messages. */
  page: string;
  /** Its entry file: the virtual path in the module map (a real path while planning). */
  entry: string;
  /** JavaScript regular expressions (sources) of the paths it serves. */
  matchers: string[];
}

/** A redirect of Next's routing table (`beforeMiddleware`), e.g. the trailing-slash one. */
export interface NextRedirect {
  /** JavaScript regular expression source. */
  sourceRegex: string;
  /** `Location`, with `$1`… from the match. */
  location: string;
  status: number;
}

/** Next's RSC conventions (`routing.rsc` of the Adapters API). */
export interface NextRscRouting {
  header: string;
  varyHeader: string;
  suffix: string;
  prefetchSegmentHeader: string;
  prefetchSegmentSuffix: string;
  prefetchSegmentDirSuffix: string;
}

/** What the handler serves, written by the build. */
export interface NextServerTable {
  prerenders: Record<string, NextPrerender>;
  edge: NextEdgeFunction[];
  /** Node-runtime functions, loaded from the bundle's module map. */
  node: NextNodeFunction[];
  /** `process.env` of the Node-runtime code. */
  nodeEnv: Record<string, string>;
  /** `process.cwd()` of the Node-runtime code: the project's directory in the module map. */
  nodeCwd: string;
  /** The app's middleware (edge runtime), run first on the paths its matchers take. */
  middleware?: NextEdgeFunction | undefined;
  redirects: NextRedirect[];
  rsc: NextRscRouting;
  /** Seconds a stale page may still be served past its revalidate time (`expireTime`). */
  expireSeconds: number;
}

/** One year, in seconds: how long the shield keeps a page that never changes. */
const STATIC_SECONDS = 31_536_000;

interface EdgeEntry {
  handler?: (request: Request, ctx: unknown) => Promise<Response>;
  default?: (request: Request, ctx: unknown) => Promise<Response>;
}

/**
 * The prerender key of a request: the path itself for HTML; with the `rsc`
 * header, its `.rsc` twin, or the segment the router prefetches
 * (`/p.segments/_tree.segment.rsc`). `/` is `/index` for the twins.
 */
export function prerenderKey(path: string, headers: Headers, rsc: NextRscRouting): string {
  if (headers.get(rsc.header) !== '1') return path;
  const base = path === '/' ? '/index' : path;
  const segment = headers.get(rsc.prefetchSegmentHeader);
  if (segment) {
    return `${base}${rsc.prefetchSegmentDirSuffix}${segment}${rsc.prefetchSegmentSuffix}`;
  }
  return `${base}${rsc.suffix}`;
}

/**
 * `cache-control` for the shield: a static page for a year, a page with
 * `revalidate` for that long and then stale-while-revalidate until Next's
 * `expireTime`.
 */
export function prerenderCacheControl(revalidate: number | false, expireSeconds: number): string {
  if (revalidate === false) return `public, max-age=0, s-maxage=${STATIC_SECONDS}`;
  const stale = Math.max(expireSeconds - revalidate, 0);
  return `public, max-age=0, s-maxage=${revalidate}, stale-while-revalidate=${stale}`;
}

function answer(page: NextPrerender, expireSeconds: number, status = page.status): Response {
  const headers = new Headers(page.headers);
  headers.set('cache-control', prerenderCacheControl(page.revalidate, expireSeconds));
  // Next's cache tags become the fleet's surrogate keys (purge by tag).
  const tags = headers.get('x-next-cache-tags');
  if (tags) headers.set('surrogate-key', tags.split(',').join(' '));
  const body = page.base64 ? Uint8Array.from(atob(page.body), (c) => c.charCodeAt(0)) : page.body;
  return new Response(body, { status, headers });
}

/**
 * `request` with a `Host` header: the shield gives the client's host in the
 * URL only, and Next reads the header (server actions compare it with
 * `Origin`).
 */
function withHost(request: Request, url: URL): Request {
  if (request.headers.has('host')) return request;
  const headers = new Headers(request.headers);
  headers.set('host', url.host);
  return new Request(request, { headers });
}

/** The fetch handler of a Next.js app's bundle (see the module documentation). */
export function createNextHandler(table: NextServerTable): {
  fetch(request: Request): Promise<Response>;
} {
  const redirects = table.redirects.map((r) => ({ ...r, regex: new RegExp(r.sourceRegex) }));
  // Edge and Node functions in one list, pages without a dynamic segment first (as Next matches).
  const functions = [
    ...table.edge.map((fn) => ({ ...fn, kind: 'edge' as const })),
    ...table.node.map((fn) => ({ ...fn, kind: 'node' as const })),
  ]
    .map((fn) => ({ ...fn, regexes: fn.matchers.map((source) => new RegExp(source)) }))
    .sort((a, b) => Number(a.page.includes('[')) - Number(b.page.includes('[')));
  let runtime: NodeRuntime | undefined;
  const nodeRuntime = (): NodeRuntime => {
    if (runtime !== undefined) return runtime;
    const map = (globalThis as unknown as { __flotillaNextModules?: ModuleMap })
      .__flotillaNextModules;
    if (map === undefined)
      throw new Error('the bundle holds no module map for Node-runtime functions');
    runtime = createNodeRuntime({ map, env: table.nodeEnv, cwd: table.nodeCwd });
    return runtime;
  };
  const middleware =
    table.middleware === undefined
      ? undefined
      : { ...table.middleware, regexes: table.middleware.matchers.map((m) => new RegExp(m)) };
  return {
    async fetch(incoming) {
      let request = incoming;
      let url = new URL(request.url);
      let path = url.pathname;
      for (const r of redirects) {
        const match = r.regex.exec(path);
        if (match === null) continue;
        const location = r.location.replace(/\$(\d+)/g, (_, n: string) => match[Number(n)] ?? '');
        return new Response(null, {
          status: r.status,
          headers: { location: location + url.search },
        });
      }
      let extraHeaders: [string, string][] = [];
      if (middleware?.regexes.some((regex) => regex.test(path))) {
        const out = await runMiddleware(middleware, withHost(request, url));
        if (out.kind === 'respond') return out.response;
        extraHeaders = out.headers;
        request = out.request;
        url = new URL(request.url);
        path = url.pathname;
      }
      const response = await route(request, url, path);
      if (extraHeaders.length === 0) return response;
      const headers = new Headers(response.headers);
      for (const [name, value] of extraHeaders) headers.set(name, value);
      return new Response(response.body, { status: response.status, headers });
    },
  };

  async function route(request: Request, url: URL, path: string): Promise<Response> {
    const method = request.method;
    if (method === 'GET' || method === 'HEAD') {
      const page = table.prerenders[prerenderKey(path, request.headers, table.rsc)];
      if (page !== undefined) return answer(page, table.expireSeconds);
    }
    const fn = functions.find((f) => f.regexes.some((regex) => regex.test(path)));
    if (fn?.kind === 'node') {
      const response = await runNode(fn, withHost(request, url), nodeRuntime());
      if (!response.headers.has('vary')) response.headers.set('vary', table.rsc.varyHeader);
      return response;
    }
    if (fn !== undefined) {
      const handler = edgeHandler(fn);
      const response = (await handler(withHost(request, url), {
        waitUntil: () => {},
        signal: request.signal,
      })) as Response;
      if (!response.headers.has('vary')) response.headers.set('vary', table.rsc.varyHeader);
      return response;
    }
    const notFound = table.prerenders[prerenderKey('/_not-found', request.headers, table.rsc)];
    if (notFound !== undefined) return answer(notFound, table.expireSeconds, 404);
    return new Response('Not Found', { status: 404, headers: { 'content-type': 'text/plain' } });
  }
}

/** What the middleware decided: answer itself, or go on (maybe rewritten) with headers to add. */
type MiddlewareOutcome =
  | { kind: 'respond'; response: Response }
  | { kind: 'next'; request: Request; headers: [string, string][] };

/**
 * Runs Next's middleware on `request` and reads its answer as Next's own
 * server does: `x-middleware-next` (go on, adding its other headers to the
 * response; `x-middleware-override-headers` and `x-middleware-request-*`
 * change the request's), `x-middleware-rewrite` (go on at that path of the
 * same origin), anything else (a redirect, a response of its own) is the
 * answer.
 */
async function runMiddleware(fn: NextEdgeFunction, request: Request): Promise<MiddlewareOutcome> {
  const handler = edgeHandler(fn);
  const out = (await handler(request.clone(), {
    waitUntil: () => {},
    signal: request.signal,
  })) as Response | { response: Response };
  const response = out instanceof Response ? out : out.response;
  const next = response.headers.has('x-middleware-next');
  const rewrite = response.headers.get('x-middleware-rewrite');
  if (!next && rewrite === null) {
    const headers = new Headers();
    for (const [name, value] of response.headers) {
      if (!name.startsWith('x-middleware-')) headers.append(name, value);
    }
    return {
      kind: 'respond',
      response: new Response(response.body, { status: response.status, headers }),
    };
  }
  const extra: [string, string][] = [];
  for (const [name, value] of response.headers) {
    if (!name.startsWith('x-middleware-') && name !== 'content-length') extra.push([name, value]);
  }
  let headers = new Headers(request.headers);
  const overridden = response.headers.get('x-middleware-override-headers');
  if (overridden !== null) {
    headers = new Headers();
    for (const name of overridden
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean)) {
      const value = response.headers.get(`x-middleware-request-${name}`);
      if (value !== null) headers.set(name, value);
    }
  }
  const base = new URL(request.url);
  const target = rewrite === null ? base : new URL(rewrite, base);
  if (target.origin !== base.origin) {
    throw new Error(
      `Next.js middleware rewrote to another origin (${target.origin}), which Flotilla does not proxy`,
    );
  }
  return {
    kind: 'next',
    request: new Request(target, { method: request.method, headers, body: request.body }),
    headers: extra,
  };
}

/** A Node-runtime entry's exports (`handler(req, res, ctx)`). */
interface NodeEntry {
  handler?: (req: unknown, res: unknown, ctx: unknown) => Promise<unknown>;
}

/**
 * Runs a Node-runtime function: Node `req`/`res` over the web request, the
 * answer a web response once its head is sent, its body streaming as the
 * handler writes.
 */
async function runNode(
  fn: NextNodeFunction,
  request: Request,
  runtime: NodeRuntime,
): Promise<Response> {
  const entry = runtime.require(fn.entry) as NodeEntry;
  if (typeof entry.handler !== 'function') {
    throw new Error(`Next.js Node-runtime function of ${fn.page} has no handler`);
  }
  const req = toNodeRequest(request);
  const res = new NodeResponse(req);
  const url = new URL(request.url);
  entry
    .handler(req, res, {
      waitUntil: () => {},
      requestMeta: { relativeProjectDir: '.', hostname: url.hostname },
    })
    .then(
      () => {
        if (!res.writableEnded) res.end();
      },
      (error: unknown) => res.fail(error),
    );
  return res.response;
}

/** The handler of an edge function the bundle evaluated. */
function edgeHandler(fn: NextEdgeFunction): (request: Request, ctx: unknown) => Promise<unknown> {
  const entries = (globalThis as unknown as { _ENTRIES?: Record<string, EdgeEntry> })._ENTRIES;
  const entry = entries?.[fn.entryKey];
  const handler = entry?.handler ?? entry?.default;
  if (handler === undefined) {
    throw new Error(`Next.js edge function of ${fn.page} (${fn.entryKey}) did not load`);
  }
  return handler;
}
