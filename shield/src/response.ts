/**
 * Writing the shield's answers: a render's response (forwarded or from the
 * cache, with its caching headers), and the error answer every failure gets.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteCacheOptions } from '@flotilla/manifest';
import { errorStatus, type RenderResult } from '@flotilla/protocol';
import type { BodyStream } from './body-stream.ts';
import type { EdgeAnswer, EdgeCache } from './cache/edge-cache.ts';
import {
  browserHeaders,
  CACHE_STATUS_HEADER,
  CACHING_STATUS_HEADER,
  variantHeaders,
} from './cache/headers.ts';
import type { FrontDoor } from './front-door/front-door.ts';
import { withConnectionNamed } from './front-door/upstream-headers.ts';
import { NOT_FORWARDED } from './render-request.ts';

/** Response headers as `writeHead` takes them. */
export type HeaderRecord = Record<string, string | string[]>;

/** A response ready to be written. */
export interface Reply {
  status: number;
  headers: HeaderRecord;
  body: Uint8Array;
}

/** Response headers that stay inside the fleet: cache tags are for purges, not clients. */
const INTERNAL_RESPONSE_HEADERS: ReadonlySet<string> = new Set(['surrogate-key', 'cache-tag']);

/**
 * A response's header list as a record: names lower-cased, repeats kept in
 * order, without the headers that must not be forwarded (the fixed set, and
 * every header its own `Connection` headers name) nor those in `withheld`.
 */
function headerRecordOf(
  list: ReadonlyArray<readonly [string, string]>,
  withheld?: ReadonlySet<string>,
): HeaderRecord {
  const connection = list
    .filter(([k]) => k.toLowerCase() === 'connection')
    .map(([, v]) => v)
    .join(',');
  const skip = withConnectionNamed(NOT_FORWARDED, connection);
  const headers: HeaderRecord = {};
  for (const [k, v] of list) {
    const name = k.toLowerCase();
    if (skip.has(name) || withheld?.has(name)) continue;
    const prev = headers[name];
    if (prev === undefined) headers[name] = v;
    else headers[name] = Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return headers;
}

/** A `Location` never sends the client to a host the site does not own. */
function rewriteLocation(headers: HeaderRecord, req: IncomingMessage, frontDoor: FrontDoor): void {
  const location = headers.location;
  if (typeof location !== 'string') {
    if (Array.isArray(location)) delete headers.location;
    return;
  }
  headers.location = frontDoor.rewriteLocation(location, req.headers.host);
}

/** 204 and 304 carry no body and must not announce one. */
function setContentLength(headers: HeaderRecord, status: number, bytes: number): void {
  if (status !== 204 && status !== 304) headers['content-length'] = String(bytes);
  else delete headers['content-length'];
}

/** A render's response as the client gets it, when the cache is not involved. */
export function forwardedReply(
  result: Extract<RenderResult, { ok: true }>,
  req: IncomingMessage,
  frontDoor: FrontDoor,
  timing: string,
): Reply {
  const headers = headerRecordOf(result.headers);
  rewriteLocation(headers, req, frontDoor);
  headers['server-timing'] = timing;
  setContentLength(headers, result.status, result.body.byteLength);
  return { status: result.status, headers, body: result.body };
}

/** What {@link cachedReply} needs to know about the request. */
export interface CachedReplyContext {
  req: IncomingMessage;
  /** The request's `accept-encoding`, which picks the stored variant. */
  acceptEncoding: string | undefined;
  /** The matched routes' cache options: the browser-facing headers come from them. */
  route: RouteCacheOptions | undefined;
  /** The visitor's new split-test cookie, never stored with the page. */
  setCookie: string | undefined;
  timing: string;
}

/**
 * A cache answer (a stored copy, or a render passed through) as the client
 * gets it: the stored variant its `accept-encoding` asks for, no internal
 * headers, `cache-control` for browsers from the route, `Cache-Status`,
 * `x-flotilla-caching-status`, `Age`, `Server-Timing`.
 */
export function cachedReply(
  answer: Extract<EdgeAnswer, { kind: 'response' }>,
  cache: EdgeCache,
  frontDoor: FrontDoor,
  context: CachedReplyContext,
): Reply {
  let list: ReadonlyArray<readonly [string, string]>;
  let body: Uint8Array;
  if (answer.entry) {
    const encoded = cache.store.body(answer.entry, context.acceptEncoding ?? '');
    body = encoded.body;
    list = variantHeaders(answer.entry.headers, encoded.encoding, body.byteLength);
  } else {
    body = answer.response.body;
    list = answer.response.headers;
  }
  const headers = headerRecordOf(list, INTERNAL_RESPONSE_HEADERS);
  const cacheControl = headers['cache-control'];
  delete headers['cache-control'];
  rewriteLocation(headers, context.req, frontDoor);
  // A response the app marked private (or that sets a cookie) keeps its own
  // cache-control: the route's browser lifetime must not make a CDN in
  // front store it.
  const personal = answer.cachingStatus === 'private' || answer.cachingStatus === 'set-cookie';
  // `browser: false` (no-store) is kept for those too: it only tightens.
  const route = personal && context.route?.browser !== false ? undefined : context.route;
  const browser = browserHeaders(route, cacheControl);
  if (browser.cacheControl !== undefined) headers['cache-control'] = browser.cacheControl;
  if (browser.swCacheControl !== undefined) headers['x-sw-cache-control'] = browser.swCacheControl;
  headers[CACHE_STATUS_HEADER] = answer.cacheStatus;
  headers[CACHING_STATUS_HEADER] = answer.cachingStatus;
  if (answer.ageSeconds !== undefined) headers.age = String(answer.ageSeconds);
  if (context.setCookie) {
    const prev = headers['set-cookie'];
    headers['set-cookie'] =
      prev === undefined
        ? [context.setCookie]
        : [...(Array.isArray(prev) ? prev : [prev]), context.setCookie];
  }
  headers['server-timing'] = context.timing;
  const status = answer.response.status;
  setContentLength(headers, status, body.byteLength);
  return { status, headers, body };
}

/** `If-None-Match` against an ETag, by weak comparison (RFC 9110 §13.1.2). */
function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const wanted = opaque(etag);
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || opaque(t) === wanted);
}

/**
 * Writes `reply` (no body for HEAD), or 304 without a body when it is a
 * stored 200 whose ETag the client already holds. Returns the status sent.
 */
export function writeReply(
  res: ServerResponse,
  req: IncomingMessage,
  reply: Reply,
  stored: { ifNoneMatch: string | undefined } | undefined,
): number {
  const etag = reply.headers.etag;
  if (
    stored?.ifNoneMatch !== undefined &&
    reply.status === 200 &&
    typeof etag === 'string' &&
    etagMatches(stored.ifNoneMatch, etag)
  ) {
    const { 'content-length': _, ...headers } = reply.headers;
    res.writeHead(304, headers);
    res.end();
    return 304;
  }
  res.writeHead(reply.status, reply.headers);
  res.end(req.method === 'HEAD' ? undefined : reply.body);
  return reply.status;
}

/**
 * Writes `reply`'s head, then `stream`'s chunks as they come, each once the
 * client's socket took the one before (its backpressure reaches the worker:
 * the next batch is pulled only then). With no `content-length` the body
 * goes chunked, so a stream that breaks midway ends the response without
 * its last chunk (the connection is destroyed): the client sees a broken
 * response, never a complete-looking truncated one. Resolves with the
 * status sent, and whether the whole body went out.
 */
export async function writeStreamed(
  res: ServerResponse,
  req: IncomingMessage,
  reply: Reply,
  stream: BodyStream,
): Promise<{ status: number; complete: boolean }> {
  const { 'content-length': _, ...headers } = reply.headers;
  res.writeHead(reply.status, headers);
  if (req.method === 'HEAD' || reply.status === 204 || reply.status === 304) {
    res.end();
    stream.cancel();
    return { status: reply.status, complete: true };
  }
  try {
    for await (const chunk of stream.chunks()) {
      if (res.destroyed) break;
      if (!res.write(chunk)) await drained(res);
    }
  } catch {
    res.destroy();
    return { status: reply.status, complete: false };
  }
  if (res.destroyed) {
    // The client went away: nobody reads on (unless the cache collects it).
    stream.cancel();
    return { status: reply.status, complete: false };
  }
  res.end();
  return { status: reply.status, complete: true };
}

/** Resolves once `res` drained its buffer, or closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * A cache answer that is an error, with its `Cache-Status`,
 * `x-flotilla-caching-status` and, when the cache turned the request away,
 * `Retry-After`. Returns the status sent.
 */
export function sendCacheError(
  res: ServerResponse,
  answer: Extract<EdgeAnswer, { kind: 'error' }>,
  timing: string,
  more: Record<string, string> = {},
  page?: ErrorPage,
): number {
  sendError(
    res,
    answer.error.code,
    answer.error.message,
    timing,
    {
      ...more,
      [CACHE_STATUS_HEADER]: answer.cacheStatus,
      [CACHING_STATUS_HEADER]: answer.cachingStatus,
      ...(answer.retryAfterSeconds !== undefined
        ? { 'retry-after': String(answer.retryAfterSeconds) }
        : {}),
    },
    page,
  );
  return errorStatus(answer.error.code);
}

/** The app's own page for an error status (`router.catch()`), sent in place of the plain text. */
export interface ErrorPage {
  contentType: string;
  body: Uint8Array;
}

/** `reply` with the body and content type of `page` (status and other headers kept). */
export function withErrorPage(reply: Reply, page: ErrorPage): Reply {
  const headers: HeaderRecord = { ...reply.headers, 'content-type': page.contentType };
  delete headers['content-encoding'];
  delete headers.etag;
  setContentLength(headers, reply.status, page.body.byteLength);
  return { status: reply.status, headers, body: page.body };
}

/**
 * The answer to every failure: the status of `code`, the code in the body and
 * in `x-flotilla-error`, never cached, `Retry-After` on a 503.
 */
export function sendError(
  res: ServerResponse,
  code: string,
  message: string,
  timing: string,
  extra: Record<string, string> = {},
  page?: ErrorPage,
): void {
  const status = errorStatus(code);
  const body = `${code}: ${message}\n`;
  const headers: Record<string, string> = {
    ...extra,
    // Known length: one write, not a chunked body (sheds are answered by the hundred).
    'content-length': String(page ? page.body.byteLength : Buffer.byteLength(body)),
    'content-type': page?.contentType ?? 'text/plain; charset=utf-8',
    'x-flotilla-error': code,
    'cache-control': 'no-store',
  };
  if (status === 503) headers['retry-after'] = '1';
  // The rest of an oversize body is not worth reading: end the connection.
  if (code === 'FLOTILLA_ERR_BODY_TOO_LARGE') headers.connection = 'close';
  if (timing) headers['server-timing'] = timing;
  res.writeHead(status, headers);
  res.end(page ? page.body : body);
}
