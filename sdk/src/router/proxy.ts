/**
 * A `proxy()` route's answer in the bundle: the backend's path (template or
 * function), `transformRequest`, the upstream header rules and
 * `transformResponse`.
 *
 * @module
 */
import { type HeaderOp, interpolatePath, type RouteAction } from '@flotilla/manifest';
import { describeValue } from '@flotilla/protocol/patterns';
import { applyUpstreamRules, isResponse } from './header-rules.ts';
import type { Recording } from './writer.ts';

/** Forwards `req` to the route's backend and returns its (transformed) response. */
export async function proxyAnswer(
  action: Extract<RouteAction, { kind: 'proxy' }>,
  recording: Recording,
  label: string,
  req: Request,
  url: URL,
  params: Record<string, string>,
  ops: readonly HeaderOp[],
): Promise<Response> {
  let path = action.path === undefined ? url.pathname : interpolatePath(action.path, params);
  let search = url.search;
  if (recording.proxyPath) {
    const target = recording.proxyPath(params, req);
    if (typeof target !== 'string' || !target.startsWith('/')) {
      throw new TypeError(
        `the proxy path function of ${label} returned ${describeValue(target, { typed: true })}, not a path starting with "/"`,
      );
    }
    path = target;
    search = '';
  }
  let outgoing = req;
  if (recording.transformRequest) {
    // A copy with its own (mutable) headers, for the function to change in place.
    const copy = new Request(req, { headers: new Headers(req.headers) });
    const changed = await recording.transformRequest(copy);
    outgoing = changed ?? copy;
    if (!(outgoing instanceof Request)) {
      throw new TypeError(
        `the transformRequest of ${label} returned ${describeValue(changed, { typed: true })}, not a Request or nothing`,
      );
    }
  }
  const init: RequestInit = {
    method: outgoing.method,
    headers: outgoing.headers,
    redirect: 'manual',
  };
  if (outgoing.method !== 'GET' && outgoing.method !== 'HEAD' && outgoing.body !== null) {
    init.body = await outgoing.arrayBuffer();
  }
  let response = await fetch(`backend://${action.backend}${path}${search}`, init);
  response = applyUpstreamRules(response, ops);
  if (recording.transformResponse) {
    const transformed = await recording.transformResponse(response, req);
    if (!isResponse(transformed)) {
      throw new TypeError(
        `the transformResponse of ${label} returned ${describeValue(transformed, { typed: true })}, not a Response`,
      );
    }
    response = transformed;
  }
  return response;
}
