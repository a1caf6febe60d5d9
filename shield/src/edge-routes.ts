/**
 * Routes answered at the edge: a matched route whose action needs no code
 * (a `redirect()`, a `proxy()` to a declared backend without
 * `transformRequest`/`transformResponse`/path function) is answered by the
 * shield from the manifest, with no NATS round trip and no render. Its
 * answer goes through the cache like a render's (same cacheability rules,
 * coalescing, stale-if-error), and the route's header rules are applied
 * with the same code the bundle's router uses (`@flotilla/manifest`).
 *
 * @module
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import {
  applyRequestRules,
  applyResponseRules,
  applyUpstreamRules,
  interpolatePath,
  type RouteAction,
} from '@flotilla/manifest';
import {
  FlotillaError,
  nonNegativeInt,
  positiveInt,
  type RenderResult,
  toWireError,
} from '@flotilla/protocol';
import { HOP_BY_HOP_HEADERS } from '@flotilla/protocol/patterns';
import { Agent, errors as undiciErrors } from 'undici';
import type { OriginAnswer, OriginMode } from './cache/edge-cache.ts';
import type { SiteRequest } from './cache-request.ts';
import type { Upstream } from './render-request.ts';
import { now } from './timing.ts';

/** Options of {@link EdgeRoutes}. */
export interface EdgeRoutesOptions {
  /**
   * Connections kept open to one backend origin at most (a bounded pool).
   * @default 64
   */
  connectionsPerOrigin?: number;
  /**
   * Longest wait for a backend's TCP (and TLS) connection, ms.
   * @default 5000
   */
  connectTimeoutMs?: number;
  /**
   * Longest wait for a backend's response headers, and between two chunks
   * of its body, ms.
   * @default 30000
   */
  responseTimeoutMs?: number;
  /**
   * Largest backend body read, in bytes (decoded); past it the request
   * fails with `FLOTILLA_ERR_BACKEND`. A deployment's own
   * `limits.backendResponseBytes` lowers it.
   * @default 16 MiB
   */
  maxResponseBytes?: number;
}

/** A route the shield answers itself, and how. */
export type EdgeAction =
  | Extract<RouteAction, { kind: 'redirect' }>
  | (Extract<RouteAction, { kind: 'proxy' }> & { origin: string });

/** Request headers never sent to a backend (hop-by-hop, framing): as the bundle's `fetch`. */
const DROPPED_REQUEST_HEADERS = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  'content-length',
  'expect',
]);

/** Response headers of a backend never stored or sent on (hop-by-hop, framing). */
const DROPPED_RESPONSE_HEADERS = new Set([...HOP_BY_HOP_HEADERS, 'content-length']);

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The first value of each header, lower-case names: what `${req:name}` reads. */
function recordOf(list: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const record: Record<string, string> = {};
  for (const [name, value] of list) {
    const key = name.toLowerCase();
    if (!Object.hasOwn(record, key)) record[key] = value;
  }
  return record;
}

/** `headers` as the pairs of a render result (each `set-cookie` apart). */
function pairsOf(headers: Headers): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of headers) {
    if (name === 'set-cookie') continue;
    pairs.push([name, value]);
  }
  for (const cookie of headers.getSetCookie()) pairs.push(['set-cookie', cookie]);
  return pairs;
}

/** Decodes a body the backend compressed (a render's `fetch` gets it decoded too). */
function decoded(body: Buffer, encoding: string | null): Buffer {
  const coding = (encoding ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity') return body;
  if (coding === 'gzip' || coding === 'x-gzip') return gunzipSync(body);
  if (coding === 'br') return brotliDecompressSync(body);
  if (coding === 'deflate') return inflateSync(body);
  throw new FlotillaError(
    'FLOTILLA_ERR_BACKEND',
    `the backend answered with content-encoding ${JSON.stringify(coding)}, which the shield cannot decode`,
  );
}

/**
 * Answers the routes that need no code at the shield: see the module
 * comment. One bounded connection pool (undici) for every backend.
 */
export class EdgeRoutes {
  readonly #agent: Agent;
  readonly #responseTimeoutMs: number;
  readonly #maxResponseBytes: number;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: EdgeRoutesOptions = {}) {
    const connections = positiveInt('connectionsPerOrigin', options.connectionsPerOrigin, 64);
    const connectTimeout = positiveInt('connectTimeoutMs', options.connectTimeoutMs, 5000);
    this.#responseTimeoutMs = positiveInt('responseTimeoutMs', options.responseTimeoutMs, 30_000);
    this.#maxResponseBytes = nonNegativeInt(
      'maxResponseBytes',
      options.maxResponseBytes,
      16 * 1024 * 1024,
    );
    this.#agent = new Agent({
      connections,
      connect: { timeout: connectTimeout },
      headersTimeout: this.#responseTimeoutMs,
      bodyTimeout: this.#responseTimeoutMs,
    });
  }

  /**
   * The action the shield answers itself for `site`, or undefined when the
   * bundle must (a render, code in `proxy()`, a CORS preflight, a backend
   * the deployment does not declare).
   */
  actionFor(site: SiteRequest): EdgeAction | undefined {
    const action = site.decision.terminal?.action;
    if (action === undefined) return undefined;
    // allowCors() preflights are the bundle's (it matches them as the announced method).
    if (site.cache.method === 'OPTIONS' && site.headers['access-control-request-method']) {
      return undefined;
    }
    if (action.kind === 'redirect') return action;
    // Only a proxy the build marked as running no code (older manifests never are).
    if (action.kind !== 'proxy' || action.noCode !== true) return undefined;
    const origin =
      site.destination.backendOverrides[action.backend] ?? site.manifest.backends[action.backend];
    return origin === undefined ? undefined : { ...action, origin };
  }

  /**
   * The origin the cache asks for `site`'s `action`: a redirect built from
   * the manifest, or the backend's answer, with the route's header rules.
   * Never rejects for a backend failure: that is an error result
   * (`FLOTILLA_ERR_BACKEND`, `FLOTILLA_ERR_DEADLINE` on a timeout), so
   * stale-if-error applies as for a failed render.
   */
  origin(
    site: SiteRequest,
    action: EdgeAction,
    body: Uint8Array,
    upstream: (mode: OriginMode, signal: AbortSignal) => Upstream,
  ): (mode: OriginMode, signal: AbortSignal) => Promise<OriginAnswer> {
    return async (mode, signal) => {
      const request = upstream(mode, signal);
      const original = recordOf(request.headers);
      if (action.kind === 'redirect') {
        const headers = new Headers({ location: interpolatePath(action.to, site.decision.params) });
        applyResponseRules(headers, site.decision.headerOps, original);
        return answer({
          ok: true,
          status: action.statusCode,
          headers: pairsOf(headers),
          body: new Uint8Array(0),
          timings: {},
        });
      }
      const started = now();
      try {
        return answer(await this.#proxy(site, action, request, original, body, started));
      } catch (err) {
        if (signal.aborted) throw err;
        const wire = toWireError(backendError(err, action));
        return answer({ ok: false, error: wire, timings: { backend: now() - started } });
      }
    };
  }

  async #proxy(
    site: SiteRequest,
    action: Extract<EdgeAction, { kind: 'proxy' }>,
    request: Upstream,
    original: Record<string, string>,
    body: Uint8Array,
    started: number,
  ): Promise<RenderResult> {
    const { decision } = site;
    const at = request.path.indexOf('?');
    const search = at === -1 ? '' : request.path.slice(at);
    const path =
      action.path === undefined ? site.pathname : interpolatePath(action.path, decision.params);
    const headers = new Headers();
    for (const [name, value] of request.headers) {
      if (!DROPPED_REQUEST_HEADERS.has(name.toLowerCase())) headers.append(name, value);
    }
    applyRequestRules(headers, decision.headerOps, original);
    if (!headers.has('user-agent')) headers.set('user-agent', 'Flotilla');
    const url = new URL(action.origin);
    const withBody = request.method !== 'GET' && request.method !== 'HEAD' && body.byteLength > 0;
    const res = await this.#agent.request({
      origin: url.origin,
      path: `${url.pathname.replace(/\/$/, '')}${path}${search}`,
      method: request.method as 'GET',
      headers: [...headers].flat(),
      ...(withBody ? { body } : {}),
      signal: request.signal,
      headersTimeout: this.#responseTimeoutMs,
      bodyTimeout: this.#responseTimeoutMs,
    });
    const limit = Math.min(
      this.#maxResponseBytes,
      site.manifest.limits?.backendResponseBytes ?? Number.POSITIVE_INFINITY,
    );
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of res.body) {
      bytes += (chunk as Buffer).byteLength;
      if (bytes > limit) {
        res.body.destroy();
        throw new FlotillaError(
          'FLOTILLA_ERR_BACKEND',
          `backend ${action.backend} answered more than ${limit} bytes`,
        );
      }
      chunks.push(chunk as Buffer);
    }
    const answered = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined || DROPPED_RESPONSE_HEADERS.has(name)) continue;
      for (const v of Array.isArray(value) ? value : [value]) answered.append(name, v);
    }
    const raw = Buffer.concat(chunks);
    const content = decoded(raw, answered.get('content-encoding'));
    if (content.byteLength > limit) {
      throw new FlotillaError(
        'FLOTILLA_ERR_BACKEND',
        `backend ${action.backend} answered more than ${limit} bytes`,
      );
    }
    answered.delete('content-encoding');
    // What the bundle would do: upstream rules on the backend's answer, then the response rules.
    applyUpstreamRules(answered, decision.headerOps);
    applyResponseRules(answered, decision.headerOps, original);
    return {
      ok: true,
      status: res.statusCode,
      headers: pairsOf(answered),
      body: new Uint8Array(content.buffer, content.byteOffset, content.byteLength),
      timings: { backend: now() - started },
    };
  }

  /** Closes the connection pool. */
  close(): Promise<void> {
    return this.#agent.close();
  }
}

function answer(result: RenderResult): OriginAnswer {
  return { result, region: undefined };
}

/** A backend failure as a `FLOTILLA_ERR_*` error naming the backend. */
function backendError(err: unknown, action: { backend: string; origin: string }): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const code = (err as { code?: string })?.code ?? '';
  const message = (err as Error)?.message ?? String(err);
  if (TIMEOUT_CODES.has(code) || err instanceof undiciErrors.HeadersTimeoutError) {
    return new FlotillaError(
      'FLOTILLA_ERR_DEADLINE',
      `backend ${action.backend} (${action.origin}) did not answer in time: ${message}`,
    );
  }
  return new FlotillaError(
    'FLOTILLA_ERR_BACKEND',
    `backend ${action.backend} (${action.origin}) failed: ${code ? `${code} ` : ''}${message}`,
  );
}
