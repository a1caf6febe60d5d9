/**
 * Host side of the guest's `fetch`: addressing (only the deployment's
 * declared backends), per-render limits (count, concurrency, deadline),
 * response size cap, redirects, `traceparent`. Every failure becomes a
 * message for a guest `TypeError`; nothing here ever throws into the guest
 * or hands it a host stack trace. See `runtime/README.md`, "Backend fetch".
 */
import { nextTraceparent } from '@flotilla/protocol';
import {
  UNSAFE_HEADER_VALUE as BAD_HEADER_VALUE,
  HEADER_NAME,
  HTTP_TOKEN as METHOD,
} from '@flotilla/protocol/patterns';
import { validateBackends } from '@flotilla/protocol/schema';
import { type GuestFetchResult, MAX_FETCHES_PER_RENDER } from './guest/host.ts';

/** Sub-requests of one render in flight at once; more wait for a free slot. */
export const MAX_CONCURRENT_FETCHES = 6;
/** Redirects followed for one `fetch` call (each to a declared backend). */
export const MAX_REDIRECTS = 5;
/** The `backend` label of a sub-request refused before it had a backend. */
export const UNDECLARED_BACKEND = '(undeclared)';
export { MAX_FETCHES_PER_RENDER };

const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Request headers never forwarded from the guest (hop-by-hop, framing, ours). */
const DROPPED_REQUEST_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'traceparent',
]);
/** Response headers never handed to the guest (hop-by-hop). */
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);
/** Headers removed when a redirect crosses to another origin (as the Fetch standard does for authorization). */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie']);
/** Headers describing a request body, removed when a redirect turns the request into a GET. */
const BODY_HEADERS = new Set([
  'content-type',
  'content-encoding',
  'content-language',
  'content-location',
]);
const DEFAULT_USER_AGENT = 'Flotilla';

/** Override sets of backends kept validated per isolate (environments of a deployment are few). */
const MAX_CACHED_OVERRIDES = 32;

/** What one render's sub-requests share. */
export interface FetchScopeOptions {
  /** When the render must end (epoch ms): its deadline, or its start plus the wall limit. */
  endAt: number;
  /** The render's `traceparent`; absent or invalid: the render starts a trace. */
  traceparent?: string | undefined;
  /** Called once per `fetch` call with its backend and outcome (for metrics). */
  onRequest?: ((backend: string, outcome: string) => void) | undefined;
  /**
   * The render's backends (name → normalized origin), from
   * {@link BackendFetcher.withOverrides}. @default the declared backends
   */
  backends?: Readonly<Record<string, string>> | undefined;
}

/** The sub-requests of one render. */
export interface FetchScope {
  /** `fetch` calls the render made so far. */
  readonly calls: number;
  /** Ends the render's scope: its sub-requests in flight or waiting are aborted. */
  end(): void;
}

/** What the guest asked for (copied out of the isolate: check every field). */
export interface BackendFetchInit {
  url: unknown;
  method: unknown;
  headers: unknown;
  body: unknown;
  redirect: unknown;
}

type AbortKind = 'deadline' | 'ended' | 'disposed' | 'too_large';

class FetchAbort extends Error {
  readonly kind: AbortKind;
  constructor(kind: AbortKind) {
    super(kind);
    this.kind = kind;
  }
}

/** A failure reported to the guest as `TypeError(message)`, counted as `outcome`. */
class GuestFailure extends Error {
  readonly outcome: string;
  constructor(message: string, outcome: string) {
    super(message);
    this.outcome = outcome;
  }
}

class Scope implements FetchScope {
  calls = 0;
  active = 0;
  refs = 1;
  ended = false;
  readonly waiting: Array<() => void> = [];
  /** Calls in flight and their backend: counted as aborted when the scope ends under them. */
  readonly inFlight = new Map<object, string>();
  // Made on the first fetch: most renders never call it, and an abort
  // controller (its abort event above all) costs more than the render's
  // other bookkeeping together.
  #controller: AbortController | undefined;
  #traceparent: string | undefined;
  readonly #incomingTraceparent: string | undefined;
  #endedBy: AbortKind = 'ended';
  readonly endAt: number;
  readonly onRequest: ((backend: string, outcome: string) => void) | undefined;
  /** What this render's `fetch` may reach: name → normalized origin. */
  readonly backends: Readonly<Record<string, string>>;
  readonly #release: (scope: Scope) => void;

  constructor(
    options: FetchScopeOptions,
    backends: Readonly<Record<string, string>>,
    release: (scope: Scope) => void,
  ) {
    this.endAt = options.endAt;
    this.backends = backends;
    this.#incomingTraceparent = options.traceparent;
    this.onRequest = options.onRequest;
    this.#release = release;
  }

  /** Aborted when the scope ends, with a {@link FetchAbort}. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.ended && !this.#controller.signal.aborted) {
      this.#controller.abort(new FetchAbort(this.#endedBy));
    }
    return this.#controller.signal;
  }

  /** The render's trace: a valid incoming traceparent keeps its trace id; otherwise the render starts one. */
  get traceparent(): string {
    this.#traceparent ??= nextTraceparent(this.#incomingTraceparent);
    return this.#traceparent;
  }

  end(): void {
    if (this.ended || --this.refs > 0) return;
    this.abort('ended');
  }

  abort(kind: AbortKind): void {
    if (this.ended) return;
    this.ended = true;
    this.#endedBy = kind;
    // Counted now: their answers come after the render's result is built.
    for (const backend of this.inFlight.values()) this.onRequest?.(backend, 'aborted');
    this.inFlight.clear();
    this.#controller?.abort(new FetchAbort(kind));
    this.#release(this);
  }

  /** Waits for one of the render's concurrent slots (or for `signal`). */
  async slot(signal: AbortSignal): Promise<void> {
    if (this.active < MAX_CONCURRENT_FETCHES) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason);
      };
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  /** Frees a slot: the next waiting sub-request takes it. */
  free(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/** A URL for messages: cut, with any credentials masked. */
function shown(raw: string): string {
  const cut = raw.length > 200 ? `${raw.slice(0, 200)}…` : raw;
  return cut.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

/** A response body cut at `cap` bytes (decoded): past it the sub-request is aborted. */
async function readCapped(
  response: Response,
  cap: number,
  abort: (kind: AbortKind) => void,
): Promise<Uint8Array | null> {
  if (response.body === null) return null;
  const declared = Number(response.headers.get('content-length'));
  if (!response.headers.has('content-encoding') && Number.isFinite(declared) && declared > cap) {
    abort('too_large');
    throw new FetchAbort('too_large');
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      abort('too_large');
      void reader.cancel().catch(() => {});
      throw new FetchAbort('too_large');
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** `backends` as a string, for messages: `api → https://api.example, cms → …`. */
function listed(backends: Readonly<Record<string, string>>): string {
  return Object.entries(backends)
    .map(([n, o]) => `${n} → ${o}`)
    .join(', ');
}

/**
 * The backend fetch bridge of one isolate: one scope per running render
 * (keyed by request id), sub-requests with Node's `fetch` (undici).
 *
 * The deployment's declared backends (its manifest's) fix the names a
 * bundle may use. A render may re-point declared names to other origins
 * (an environment's backends, see {@link BackendFetcher.withOverrides}),
 * never add a name.
 */
export class BackendFetcher {
  readonly deploymentId: string;
  /** The declared backends: name → normalized origin. */
  readonly backends: Readonly<Record<string, string>>;
  readonly #responseBytes: number;
  readonly #scopes = new Map<string, Scope>();
  /** Validated override sets (by their entries), oldest first. */
  readonly #overrides = new Map<string, Readonly<Record<string, string>>>();
  #disposed = false;

  /**
   * @param backends already validated ({@link validateBackends}).
   * @param responseBytes cap on each response body (`limits.backendResponseBytes`).
   */
  constructor(deploymentId: string, backends: Record<string, string>, responseBytes: number) {
    this.deploymentId = deploymentId;
    this.backends = Object.freeze({ ...backends });
    this.#responseBytes = responseBytes;
  }

  /**
   * The backends of one render: the declared ones, with the names in
   * `overrides` re-pointed to the origins given there (an environment's
   * backends). Each origin is validated as in {@link validateBackends}; a
   * name the deployment does not declare is refused, since a render may
   * re-point a backend but never add one. Validated sets are cached, so a
   * render with the same overrides as an earlier one costs a lookup.
   *
   * @param fail builds the error thrown for a bad entry, given the option's
   * name (`backends.api`) and the problem.
   */
  withOverrides(
    overrides: unknown,
    fail: (option: string, problem: string) => Error,
  ): Readonly<Record<string, string>> {
    if (overrides === undefined || overrides === null) return this.backends;
    // Keyed by the entries, when they are all strings (anything else goes to validation).
    let key: string | undefined;
    if (typeof overrides === 'object' && !Array.isArray(overrides)) {
      const entries = Object.entries(overrides);
      if (entries.every(([, origin]) => typeof origin === 'string')) key = JSON.stringify(entries);
    }
    const cached = key === undefined ? undefined : this.#overrides.get(key);
    if (cached !== undefined) return cached;
    const valid = validateBackends(overrides, fail);
    let changed = false;
    for (const [name, origin] of Object.entries(valid)) {
      if (!Object.hasOwn(this.backends, name)) {
        const declared = listed(this.backends);
        throw fail(
          `backends.${name}`,
          `is not a backend of deployment ${this.deploymentId}: a render may re-point the backends its manifest declares, never add one (${declared === '' ? 'it declares none' : `declared: ${declared}`})`,
        );
      }
      if (this.backends[name] !== origin) changed = true;
    }
    const merged = changed ? Object.freeze({ ...this.backends, ...valid }) : this.backends;
    if (key !== undefined) {
      this.#overrides.set(key, merged);
      if (this.#overrides.size > MAX_CACHED_OVERRIDES) {
        const oldest = this.#overrides.keys().next().value;
        if (oldest !== undefined) this.#overrides.delete(oldest);
      }
    }
    return merged;
  }

  /**
   * Opens the scope of one render. Renders sharing a request id share a
   * scope (limits and backends included); it ends with the last of them.
   */
  begin(requestId: string, options: FetchScopeOptions): FetchScope {
    const existing = this.#scopes.get(requestId);
    if (existing && !existing.ended) {
      existing.refs++;
      return existing;
    }
    const scope = new Scope(options, options.backends ?? this.backends, (s) => {
      if (this.#scopes.get(requestId) === s) this.#scopes.delete(requestId);
    });
    if (this.#disposed) scope.abort('disposed');
    else this.#scopes.set(requestId, scope);
    return scope;
  }

  /** Aborts every sub-request (the isolate is going away). */
  dispose(): void {
    this.#disposed = true;
    for (const scope of [...this.#scopes.values()]) scope.abort('disposed');
    this.#scopes.clear();
  }

  /**
   * Runs one guest `fetch` call. Resolves with what to deliver to the
   * guest, or `undefined` when the render that made the call ended
   * meanwhile (its pending calls are forgotten in the guest). Never rejects.
   */
  async fetch(requestId: string, init: BackendFetchInit): Promise<GuestFetchResult | undefined> {
    const scope = this.#scopes.get(requestId);
    if (!scope || scope.ended) {
      return {
        ok: false,
        message: 'fetch failed: the render that called fetch has already ended',
      };
    }
    const url = typeof init.url === 'string' ? init.url : '';
    scope.calls++;
    let backend = UNDECLARED_BACKEND;
    const call = {};
    let registered = false;
    try {
      let target: { backend: string; url: URL } | undefined;
      let refused: unknown;
      try {
        target = this.#resolve(scope.backends, url);
        backend = target.backend;
      } catch (err) {
        refused = err;
      }
      if (scope.calls > MAX_FETCHES_PER_RENDER) {
        throw new GuestFailure(
          `fetch to ${shown(url)} refused: a render may make at most ${MAX_FETCHES_PER_RENDER} sub-requests (limit reached)`,
          'limit',
        );
      }
      if (target === undefined) throw refused;
      scope.inFlight.set(call, backend);
      registered = true;
      const result = await this.#run(scope, target, init);
      // The render ended meanwhile: already counted, and the guest forgot the call.
      if (!scope.inFlight.delete(call)) return undefined;
      scope.onRequest?.(backend, statusClass(result.status));
      return result;
    } catch (err) {
      // The render ended meanwhile: already counted, and the guest forgot the call.
      if (registered && !scope.inFlight.delete(call)) return undefined;
      const failure =
        err instanceof GuestFailure
          ? err
          : new GuestFailure('fetch failed: internal error in the fetch bridge', 'error');
      scope.onRequest?.(backend, failure.outcome);
      return { ok: false, message: failure.message };
    }
  }

  /** The declared-backends part of a refusal message (with the render's origins). */
  #declared(backends: Readonly<Record<string, string>>): string {
    const shownList = listed(backends);
    return shownList === '' ? 'it declares no backends' : `declared: ${shownList}`;
  }

  #refuse(backends: Readonly<Record<string, string>>, raw: string, why: string): GuestFailure {
    return new GuestFailure(
      `fetch to ${shown(raw)} refused: ${why} (${this.#declared(backends)})`,
      'refused',
    );
  }

  /**
   * Maps a guest URL to one of the render's `backends`: `backend://<name>/<path>`
   * or an absolute http(s) URL whose origin is exactly one of their origins.
   */
  #resolve(backends: Readonly<Record<string, string>>, raw: string): { backend: string; url: URL } {
    const refuse = (why: string) => this.#refuse(backends, raw, why);
    if (raw === '') throw refuse('empty URL');
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1]?.toLowerCase();
    if (scheme === 'backend') {
      const m = /^backend:\/\/([^/?#\\]*)(.*)$/is.exec(raw);
      if (!m) throw refuse('a backend URL has the form backend://<name>/<path>');
      const host = (m[1] ?? '').toLowerCase();
      if (host.includes('@')) throw refuse('URLs with credentials are not allowed');
      if (host.includes(':')) {
        throw refuse('a backend URL takes no port (the backend declares its origin)');
      }
      const origin = Object.hasOwn(backends, host) ? backends[host] : undefined;
      if (origin === undefined) {
        throw refuse(`deployment ${this.deploymentId} declares no backend named "${host}"`);
      }
      let rest = (m[2] ?? '').replace(/#.*$/s, '');
      if (!rest.startsWith('/')) rest = `/${rest}`;
      let url: URL;
      try {
        url = new URL(`${origin}${rest}`);
      } catch {
        throw refuse('the path does not form a valid URL');
      }
      if (url.origin !== origin) throw refuse('the path leaves the backend');
      return { backend: host, url };
    }
    const found = this.#declaredUrl(backends, raw);
    if (typeof found === 'string') throw refuse(found);
    return found;
  }

  /** An absolute http(s) URL at one of `backends`' origins, or why it is refused. */
  #declaredUrl(
    backends: Readonly<Record<string, string>>,
    raw: string,
    base?: URL,
  ): { backend: string; url: URL } | string {
    let url: URL;
    try {
      url = new URL(raw, base);
    } catch {
      return 'not an absolute URL (use backend://<name>/<path> or a declared origin)';
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return `the ${url.protocol} scheme is not allowed: only backend://<name>/… and http(s) URLs of declared backends`;
    }
    if (url.username !== '' || url.password !== '') {
      return 'URLs with credentials are not allowed';
    }
    url.hash = '';
    for (const [name, origin] of Object.entries(backends)) {
      if (url.origin === origin) return { backend: name, url };
    }
    return `${url.origin} is not a declared backend of deployment ${this.deploymentId}`;
  }

  /** Sends the request (following declared redirects) under the render's limits. */
  async #run(
    scope: Scope,
    target: { backend: string; url: URL },
    init: BackendFetchInit,
  ): Promise<Extract<GuestFetchResult, { ok: true }>> {
    const method = typeof init.method === 'string' ? init.method : 'GET';
    if (!METHOD.test(method) || FORBIDDEN_METHODS.has(method.toUpperCase())) {
      throw new GuestFailure(`fetch: method ${JSON.stringify(method)} is not allowed`, 'refused');
    }
    const redirect =
      init.redirect === 'manual' || init.redirect === 'error' ? init.redirect : 'follow';
    let body = init.body instanceof Uint8Array ? (init.body as Uint8Array<ArrayBuffer>) : null;
    if (body !== null && (method === 'GET' || method === 'HEAD')) {
      throw new GuestFailure(`fetch: a ${method} request cannot have a body`, 'refused');
    }
    const headers = this.#requestHeaders(init.headers);
    headers.set('traceparent', nextTraceparent(scope.traceparent));

    const remaining = scope.endAt - Date.now();
    const ac = new AbortController();
    const abort = (kind: AbortKind) => {
      if (!ac.signal.aborted) ac.abort(new FetchAbort(kind));
    };
    const onScope = () => ac.abort(scope.signal.reason);
    scope.signal.addEventListener('abort', onScope, { once: true });
    const timer = setTimeout(() => abort('deadline'), Math.max(0, remaining));
    timer.unref();
    let slotted = false;
    const started = Date.now();
    try {
      if (remaining <= 0) abort('deadline');
      await scope.slot(ac.signal);
      slotted = true;
      let url = target.url;
      let current = target.backend;
      let sendMethod = method;
      for (let hop = 0; ; hop++) {
        const response = await fetch(url, {
          method: sendMethod,
          headers,
          body,
          redirect: 'manual',
          signal: ac.signal,
        });
        const location = response.headers.get('location');
        if (REDIRECTS.has(response.status) && location !== null && redirect !== 'manual') {
          void response.body?.cancel().catch(() => {});
          if (redirect === 'error') {
            throw new GuestFailure(
              `fetch failed: backend ${current} answered a ${response.status} redirect and redirect mode is "error"`,
              'redirect',
            );
          }
          if (hop >= MAX_REDIRECTS) {
            throw new GuestFailure(
              `fetch failed: more than ${MAX_REDIRECTS} redirects from ${shown(target.url.href)}`,
              'redirect',
            );
          }
          const next = this.#declaredUrl(scope.backends, location, url);
          if (typeof next === 'string') {
            throw new GuestFailure(
              `fetch failed: redirect from ${shown(url.href)} to ${shown(location)} refused: ${next} (${this.#declared(scope.backends)}); use redirect: "manual" to read the redirect`,
              'redirect',
            );
          }
          if (
            response.status === 303
              ? sendMethod !== 'GET' && sendMethod !== 'HEAD'
              : (response.status === 301 || response.status === 302) && sendMethod === 'POST'
          ) {
            sendMethod = 'GET';
            body = null;
            for (const name of BODY_HEADERS) headers.delete(name);
          }
          if (next.url.origin !== url.origin) {
            for (const name of CREDENTIAL_HEADERS) headers.delete(name);
          }
          url = next.url;
          current = next.backend;
          headers.set('traceparent', nextTraceparent(scope.traceparent));
          continue;
        }
        if (response.status < 200 || response.status > 599) {
          void response.body?.cancel().catch(() => {});
          throw new GuestFailure(
            `fetch failed: backend ${current} answered status ${response.status}`,
            'error',
          );
        }
        const bytes = await readCapped(response, this.#responseBytes, abort);
        const decoded = response.headers.has('content-encoding');
        const out: Array<[string, string]> = [];
        for (const [name, value] of response.headers) {
          if (DROPPED_RESPONSE_HEADERS.has(name)) continue;
          // undici decoded the body: its encoding and length headers no longer describe it.
          if (decoded && (name === 'content-encoding' || name === 'content-length')) continue;
          out.push([name, value]);
        }
        return {
          ok: true,
          status: response.status,
          statusText: response.statusText,
          headers: out,
          body: bytes,
          url: url.href,
          redirected: hop > 0,
        };
      }
    } catch (err) {
      if (err instanceof GuestFailure) throw err;
      const reason = ac.signal.aborted ? ac.signal.reason : undefined;
      throw this.#failure(target, reason instanceof FetchAbort ? reason.kind : undefined, err, {
        remaining,
        waited: Date.now() - started,
      });
    } finally {
      clearTimeout(timer);
      scope.signal.removeEventListener('abort', onScope);
      if (slotted) scope.free();
    }
  }

  #failure(
    target: { backend: string; url: URL },
    kind: AbortKind | undefined,
    err: unknown,
    time: { remaining: number; waited: number },
  ): GuestFailure {
    const name = target.backend;
    switch (kind) {
      case 'deadline':
        return new GuestFailure(
          `fetch failed: backend ${name} did not answer within the render's remaining time (${Math.max(0, Math.round(time.remaining))} ms)`,
          'deadline',
        );
      case 'ended':
        return new GuestFailure(
          `fetch failed: the render ended before backend ${name} answered`,
          'aborted',
        );
      case 'disposed':
        return new GuestFailure(
          `fetch failed: the isolate was disposed before backend ${name} answered`,
          'aborted',
        );
      case 'too_large':
        return new GuestFailure(
          `fetch failed: response of backend ${name} is over the ${this.#responseBytes}-byte cap (limits.backendResponseBytes)`,
          'too_large',
        );
      default: {
        // undici: TypeError('fetch failed', { cause }) with a system error code
        // or a message; report the code only, never a host stack.
        const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
        const detail =
          typeof cause?.code === 'string'
            ? cause.code
            : typeof cause?.message === 'string'
              ? cause.message.slice(0, 200)
              : err instanceof Error
                ? err.message.slice(0, 200)
                : 'unknown error';
        return new GuestFailure(
          `fetch failed: backend ${name} (${target.url.origin}) could not be reached: ${detail}`,
          'network',
        );
      }
    }
  }

  /** The guest's headers minus hop-by-hop, framing and ours; a default user-agent. */
  #requestHeaders(list: unknown): Headers {
    const headers = new Headers();
    const pairs = Array.isArray(list) ? list : [];
    const connectionTokens = new Set<string>();
    for (const pair of pairs) {
      if (!Array.isArray(pair) || pair[0] !== 'connection' || typeof pair[1] !== 'string') continue;
      for (const t of pair[1].split(',')) connectionTokens.add(t.trim().toLowerCase());
    }
    for (const pair of pairs) {
      if (!Array.isArray(pair) || pair.length !== 2) continue;
      const [rawName, value] = pair as [unknown, unknown];
      if (typeof rawName !== 'string' || typeof value !== 'string') continue;
      const name = rawName.toLowerCase();
      if (!HEADER_NAME.test(name) || BAD_HEADER_VALUE.test(value)) {
        throw new GuestFailure(
          `fetch: invalid header ${JSON.stringify(name).slice(0, 100)}`,
          'refused',
        );
      }
      if (DROPPED_REQUEST_HEADERS.has(name) || connectionTokens.has(name)) continue;
      headers.append(name, value);
    }
    if (!headers.has('user-agent')) headers.set('user-agent', DEFAULT_USER_AGENT);
    return headers;
  }
}
