/**
 * A Router at request time, in the bundle: the matched routes' request
 * header changes, the answering route's action, catch handlers and the
 * response header changes.
 *
 * @module
 */
import {
  applyRequestRules,
  applyResponseRules,
  catchRouteFor,
  DESTINATION_HEADER,
  type HeaderOp,
  hasOps,
  interpolatePath,
  type ManifestRoute,
  matchRoutes,
  REQUEST_OPS,
  RESPONSE_OPS,
  routesForDestination,
} from '@flotilla/manifest';
import { BACKEND_NAME, describeValue } from '@flotilla/protocol/patterns';
import { RENDER_ROUTE, type RenderRoute } from '../hydration.ts';
import type { CompiledRoute } from './describe-route.ts';
import { BackendError } from './errors.ts';
import {
  applyUpstreamRules,
  corsPreflight,
  isResponse,
  runCompute,
  withStatus,
} from './header-rules.ts';
import { proxyAnswer } from './proxy.ts';
import type { BackendClient, RenderContext } from './types.ts';

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Answers `request` with the described `routes` (`allSpecs`: their manifest routes). */
export async function serveRequest(
  routes: readonly CompiledRoute[],
  allSpecs: readonly ManifestRoute[],
  request: Request,
  env: Record<string, string>,
): Promise<Response> {
  const url = new URL(request.url);
  const original: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    original[name] = value;
  });
  // The shield names the split test's destination (clients cannot: it drops their x-flotilla-*).
  const specs = routesForDestination(
    allSpecs,
    request.headers.get(DESTINATION_HEADER) ?? undefined,
  );
  const match = {
    host: url.hostname,
    path: url.pathname,
    query: url.search.slice(1),
    headers: original,
  };
  const preflight = corsPreflight(specs, request, match);
  if (preflight) return preflight;
  const decision = matchRoutes(specs, { ...match, method: request.method });
  const ops = decision.headerOps;
  const req = applyRequestOps(request, ops, original);
  const route = decision.terminal ? routes[decision.terminal.id] : undefined;
  let response = route
    ? await answer(route, req, url, decision.params, env, ops)
    : notFoundResponse('Not found\n');
  // A catch handler that runs code answers an error status here; a
  // serveStatic(file) one is the shield's (it has the files).
  const caught = catchRouteFor(specs, response.status);
  const catcher = caught && caught.action.kind !== 'asset' ? routes[caught.id] : undefined;
  if (catcher) {
    const status = response.status;
    await response.body?.cancel();
    const page = await answer(catcher, req, url, {}, env, catcher.spec.headerOps);
    response = page.status >= 300 && page.status < 400 ? page : withStatus(page, status);
  }
  return applyResponseOps(response, ops, original);
}

function applyRequestOps(
  request: Request,
  ops: readonly HeaderOp[],
  original: Record<string, string>,
): Request {
  if (!hasOps(ops, REQUEST_OPS)) return request;
  const headers = new Headers(request.headers);
  applyRequestRules(headers, ops, original);
  return new Request(request, { headers });
}

function withHeaders(response: Response, edit: (headers: Headers) => void): Response {
  const headers = new Headers(response.headers);
  edit(headers);
  return new Response(NULL_BODY.has(response.status) ? null : response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

function applyResponseOps(
  response: Response,
  ops: readonly HeaderOp[],
  original: Record<string, string>,
): Response {
  if (!hasOps(ops, RESPONSE_OPS)) return response;
  return withHeaders(response, (headers) => applyResponseRules(headers, ops, original));
}

function notFoundResponse(body: string): Response {
  return new Response(body, {
    status: 404,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}

/** The `ctx.backend(name)` of a render. */
export function backendClient(name: string): BackendClient {
  if (typeof name !== 'string' || !BACKEND_NAME.test(name)) {
    throw new TypeError(`backend(${JSON.stringify(name)}): not a backend name`);
  }
  const client: BackendClient = {
    fetch(path: string, init?: RequestInit) {
      if (typeof path !== 'string' || !path.startsWith('/')) {
        return Promise.reject(
          new TypeError(
            `backend(${JSON.stringify(name)}).fetch(): the path must start with "/" (got ${JSON.stringify(path)})`,
          ),
        );
      }
      return fetch(`backend://${name}${path}`, init);
    },
    async json<T>(path: string): Promise<T> {
      const res = await client.fetch(path, { headers: { accept: 'application/json' } });
      if (!res.ok) throw new BackendError(name, path, res.status);
      return (await res.json()) as T;
    },
  };
  return client;
}

/**
 * Builds the context a render function gets.
 *
 * @param route - The route it renders for (see {@link RENDER_ROUTE}); absent outside a Router.
 */
export function renderContext(
  request: Request,
  params: Record<string, string>,
  env: Record<string, string>,
  route?: RenderRoute,
): RenderContext {
  const ctx: RenderContext = { request, params, env, backend: backendClient };
  if (route) Object.assign(ctx, { [RENDER_ROUTE]: route });
  return ctx;
}

async function answer(
  route: CompiledRoute,
  req: Request,
  url: URL,
  params: Record<string, string>,
  env: Record<string, string>,
  ops: readonly HeaderOp[],
): Promise<Response> {
  const { spec, recording, label } = route;
  const action = spec.action;
  switch (action.kind) {
    case 'render': {
      if (recording.send) {
        return new Response(recording.send.body, {
          status: recording.send.status,
          headers: recording.send.headers,
        });
      }
      if (recording.compute) {
        return applyUpstreamRules(await runCompute(recording.compute, req, params), ops);
      }
      const render = recording.render;
      if (!render) return notFoundResponse('Not found\n');
      const response = await render(renderContext(req, params, env, { id: spec.id, render }));
      if (!isResponse(response)) {
        throw new TypeError(
          `the render function of ${label} returned ${describeValue(response, { typed: true })}, not a Response`,
        );
      }
      return applyUpstreamRules(response, ops);
    }
    case 'proxy':
      return proxyAnswer(action, recording, label, req, url, params, ops);
    case 'redirect':
      return new Response(null, {
        status: action.statusCode,
        headers: { location: interpolatePath(action.to, params) },
      });
    case 'static':
    case 'asset':
      return notFoundResponse('Not found (static files are served by the shield)\n');
    default:
      return notFoundResponse('Not found\n');
  }
}
