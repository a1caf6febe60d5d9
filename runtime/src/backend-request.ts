/**
 * One backend sub-request over Node's `fetch` (undici), under its render's
 * limits: a concurrency slot, the render's remaining time, the response
 * cap, redirects followed only to declared backends, a fresh `traceparent`
 * span per hop, and the guest's headers filtered. Every failure becomes a
 * {@link GuestFailure}.
 */
import { nextTraceparent } from '@flotilla/protocol';
import {
  UNSAFE_HEADER_VALUE as BAD_HEADER_VALUE,
  HEADER_NAME,
  HOP_BY_HOP_HEADERS,
  HTTP_TOKEN as METHOD,
} from '@flotilla/protocol/patterns';
import { type BackendPolicy, type BackendTarget, shown } from './backend-policy.ts';
import { guestResponse } from './backend-response.ts';
import { type AbortKind, FetchAbort, GuestFailure } from './fetch-errors.ts';
import type { RenderScope } from './fetch-scope.ts';
import type { GuestFetchResult } from './guest/host.ts';

/** Redirects followed for one `fetch` call (each to a declared backend). */
export const MAX_REDIRECTS = 5;

/** What the guest asked for (copied out of the isolate: check every field). */
export interface BackendFetchInit {
  url: unknown;
  method: unknown;
  headers: unknown;
  body: unknown;
  redirect: unknown;
}

const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Request headers never forwarded from the guest (hop-by-hop, framing, ours). */
const DROPPED_REQUEST_HEADERS = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  'content-length',
  'expect',
  'traceparent',
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

/**
 * Sends the request (following declared redirects) under the render's limits.
 *
 * @param policy resolves redirect targets among the render's backends.
 * @param responseBytes the response body cap (`limits.backendResponseBytes`).
 * @throws GuestFailure for every failure.
 */
export async function sendToBackend(
  scope: RenderScope,
  target: BackendTarget,
  init: BackendFetchInit,
  policy: BackendPolicy,
  responseBytes: number,
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
  const headers = requestHeaders(init.headers);
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
        const next = policy.declaredUrl(scope.backends, location, url);
        if (typeof next === 'string') {
          throw new GuestFailure(
            `fetch failed: redirect from ${shown(url.href)} to ${shown(location)} refused: ${next} (${policy.declared(scope.backends)}); use redirect: "manual" to read the redirect`,
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
      return await guestResponse(response, url, hop > 0, responseBytes, abort);
    }
  } catch (err) {
    if (err instanceof GuestFailure) throw err;
    const reason = ac.signal.aborted ? ac.signal.reason : undefined;
    throw failure(
      target,
      reason instanceof FetchAbort ? reason.kind : undefined,
      err,
      { remaining, waited: Date.now() - started },
      responseBytes,
    );
  } finally {
    clearTimeout(timer);
    scope.signal.removeEventListener('abort', onScope);
    if (slotted) scope.free();
  }
}

/** The failure of a sub-request that threw `err`, aborted as `kind` if it was. */
function failure(
  target: BackendTarget,
  kind: AbortKind | undefined,
  err: unknown,
  time: { remaining: number; waited: number },
  responseBytes: number,
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
        `fetch failed: response of backend ${name} is over the ${responseBytes}-byte cap (limits.backendResponseBytes)`,
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
function requestHeaders(list: unknown): Headers {
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
