/**
 * What a client's HTTP request becomes on its way to a region: the
 * deployment, the URL the app sees, the headers, the deadline and the trace.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { nextTraceparent, type RenderRequest } from '@flotilla/protocol';
import { HOP_BY_HOP_HEADERS, withConnectionNamed } from './front-door/upstream-headers.ts';
import type { Regions } from './region-client.ts';
import type { SiteTarget } from './site-directory.ts';
import { now } from './timing.ts';

/** Where one request goes: the site's deployment, and the regions that render it. */
export interface Destination extends SiteTarget, Regions {}

/** How a cached request is sent upstream (built from the allow-list). */
export interface Upstream {
  method: string;
  /** Path and (normalised) query the app sees. */
  path: string;
  headers: Array<[string, string]>;
  traceparent: string;
  signal: AbortSignal;
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1), and the framing and routing headers
 * the shield sets itself: they never cross the shield, either way.
 */
export const NOT_FORWARDED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  'content-length',
  'x-forwarded-prefix',
]);

/** What {@link renderRequestFor} needs besides the request. */
export interface RenderRequestContext {
  /** The request deadline, from arrival at the shield, in ms. */
  timeoutMs: number;
  /** `host:port` the render sees when the client sent no `Host`. */
  fallbackHost: string;
}

/**
 * The render request for `req`: with `upstream` (a cached route) as the cache
 * built it; without, the client's request as it is, minus hop-by-hop headers,
 * continuing the client's trace.
 *
 * @param started - When the request arrived ({@link now}).
 */
export function renderRequestFor(
  req: IncomingMessage,
  destination: Destination,
  body: Uint8Array,
  started: number,
  upstream: Upstream | undefined,
  context: RenderRequestContext,
): RenderRequest {
  const traceparent =
    upstream?.traceparent ?? nextTraceparent(req.headers.traceparent as string | undefined);
  let headers: Array<[string, string]>;
  if (upstream) {
    headers = upstream.headers;
  } else {
    // Raw headers keep the client's order and repeats (Node's req.headers merges
    // or drops duplicates). The trace context is this hop's, not the client's.
    const skip = withConnectionNamed(NOT_FORWARDED, req.headers.connection);
    headers = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = (req.rawHeaders[i] as string).toLowerCase();
      if (skip.has(name) || name === 'traceparent') continue;
      headers.push([name, req.rawHeaders[i + 1] as string]);
    }
    headers.push(['traceparent', traceparent]);
    if (destination.prefix) headers.push(['x-forwarded-prefix', destination.prefix]);
  }
  const hostHeader = (req.headers.host ?? context.fallbackHost).toLowerCase();
  // Wire deadlines are epoch ms compared against Date.now() downstream: derive
  // this one from the wall clock too (the monotonic `started` drifts from it).
  const deadline = Math.floor(Date.now() - (now() - started)) + context.timeoutMs;
  return {
    deploymentId: destination.deploymentId,
    ...(destination.environment ? { environment: destination.environment } : {}),
    method: upstream?.method ?? (req.method ?? 'GET').toUpperCase(),
    url: `http://${hostHeader}${upstream?.path ?? destination.path}`,
    headers,
    body,
    deadline,
    traceparent,
    requestId: randomUUID(),
    attempt: 1,
  };
}
