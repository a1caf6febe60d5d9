/**
 * The routes step of `flotilla build`: evaluates `bundle.js` in a `node:vm`
 * context shaped like the isolate, takes the handler it serves and asks it
 * to describe its routes (a Router does; a plain fetch handler gets one
 * catch-all render route).
 *
 * Node-only.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { webcrypto } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { type ManifestRoute, validateRoute } from '@flotilla/manifest';
import { describeValue } from '@flotilla/protocol/patterns';
import { buildFailure } from './build-errors.ts';
import { DESCRIBE_ROUTES } from './router/router.ts';

export { DESCRIBE_ROUTES };

/** The route a plain fetch handler gets: every request renders. */
export const CATCH_ALL_ROUTE: Readonly<ManifestRoute> = Object.freeze<ManifestRoute>({
  id: 0,
  criteria: { path: '/:path*' },
  fallback: false,
  action: { kind: 'render' },
  headerOps: [],
});

/** Options of {@link describeRoutes}. */
export interface DescribeRoutesOptions {
  /** App name, for error messages. */
  app: string;
  /** The bytes of `bundle.js`. */
  code: Uint8Array;
  /** Declared backend names (proxy routes must name one of them). */
  backends: Record<string, string>;
}

/**
 * Evaluates `code` the way the isolate would and returns the routes of the
 * handler it serves.
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when the bundle throws while
 * loading, serves nothing or something that is not a handler, when the Router
 * cannot describe a route (the message names it: `route GET /p/:id (route 3):
 * cache options must be static: …`), when the description is malformed, or
 * when a proxy route names an undeclared backend.
 */
export function describeRoutes(options: DescribeRoutesOptions): ManifestRoute[] {
  const { app, code, backends } = options;
  const handler = evaluateBundle(app, new TextDecoder().decode(code));

  const describe =
    (typeof handler === 'object' || typeof handler === 'function') && handler !== null
      ? (handler as Record<symbol, unknown>)[DESCRIBE_ROUTES]
      : undefined;
  if (typeof describe !== 'function') {
    if (
      typeof handler !== 'function' &&
      typeof (handler as { fetch?: unknown } | null)?.fetch !== 'function'
    ) {
      throw buildFailure(
        app,
        `the entry's default export must be a Router, a fetch function or an object with a fetch method (got ${describeValue(handler)}${typeof handler === 'object' && handler !== null ? ' without fetch' : ''})`,
      );
    }
    return [structuredClone(CATCH_ALL_ROUTE)];
  }

  let described: unknown;
  try {
    described = describe.call(handler);
  } catch (error) {
    const message = messageOf(error);
    throw buildFailure(
      app,
      /\(route \d+\)/.test(message)
        ? message.startsWith('route ')
          ? message
          : `route ${message}`
        : `describing the routes failed: ${message}`,
      error,
    );
  }

  if (typeof (described as { then?: unknown } | null)?.then === 'function') {
    throw buildFailure(app, 'the route description must be an array, not a Promise');
  }
  let routes: unknown;
  try {
    // Out of the vm realm, into plain JSON.
    routes = JSON.parse(JSON.stringify(described) ?? 'null');
  } catch (error) {
    throw buildFailure(app, `the route description is not JSON: ${messageOf(error)}`, error);
  }
  return checkRoutes(app, routes, backends);
}

/**
 * Checks the described routes (proxy backends declared, every field valid as
 * `validateRoute` of `@flotilla/manifest` sees it) and returns them normalised.
 */
function checkRoutes(
  app: string,
  routes: unknown,
  backends: Record<string, string>,
): ManifestRoute[] {
  if (!Array.isArray(routes)) {
    throw buildFailure(
      app,
      `the route description must be an array (got ${describeValue(routes)})`,
    );
  }
  const declared = Object.keys(backends);
  return routes.map((route: unknown, i) => {
    const action = (route as { action?: { kind?: unknown; backend?: unknown } } | null)?.action;
    if (
      action?.kind === 'proxy' &&
      typeof action.backend === 'string' &&
      !Object.hasOwn(backends, action.backend)
    ) {
      throw buildFailure(
        app,
        `route ${routeLabel(route, i)} proxies to backend "${action.backend}", which is not declared; ` +
          (declared.length > 0
            ? `declared backends: ${declared.join(', ')}`
            : 'declare it under "backends" in flotilla.config.json'),
      );
    }
    try {
      return validateRoute(route, i, `routes[${i}]`, undefined, backends);
    } catch (error) {
      throw buildFailure(
        app,
        `route ${routeLabel(route, i)} is described with an invalid field: ${messageOf(error)}`,
        error,
      );
    }
  });
}

/** `GET /p/:id (route 3)`, as the Router names routes; `route 3` when the criteria are unusable. */
function routeLabel(route: unknown, index: number): string {
  const criteria = (route as { criteria?: { path?: unknown; method?: unknown } } | null)?.criteria;
  if (typeof criteria?.path !== 'string') return `${index}`;
  const methods = Array.isArray(criteria.method) ? criteria.method.join(',') : 'ANY';
  return `${methods} ${criteria.path} (route ${index})`;
}

/** Runs `code` in a fresh context with the isolate's globals; returns what it served. */
export function evaluateBundle(app: string, code: string): unknown {
  let served = false;
  let handler: unknown;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const context = {
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    Headers,
    Request,
    Response,
    FormData,
    Blob,
    AbortController,
    AbortSignal,
    DOMException,
    ReadableStream,
    WritableStream,
    TransformStream,
    console,
    setTimeout: (fn: () => void, ms?: number) => {
      const id = setTimeout(() => {
        timers.delete(id);
        fn();
      }, ms);
      timers.add(id);
      return id;
    },
    clearTimeout: (id: ReturnType<typeof setTimeout>) => {
      timers.delete(id);
      clearTimeout(id);
    },
    queueMicrotask,
    structuredClone,
    atob,
    btoa,
    crypto: {
      getRandomValues: <T extends ArrayBufferView | null>(array: T): T =>
        webcrypto.getRandomValues(array as never) as T,
      randomUUID: () => webcrypto.randomUUID(),
    },
    fetch: () => Promise.reject(new TypeError('fetch is not available while the bundle loads')),
    Flotilla: Object.freeze({
      serve(h: unknown) {
        if (served) throw new Error('Flotilla.serve was already called');
        served = true;
        handler = h;
      },
      // What `node:async_hooks` gives a bundle (as the isolate's `Flotilla.AsyncLocalStorage`).
      AsyncLocalStorage,
    }),
  };
  try {
    runInNewContext(code, context, { filename: 'bundle.js' });
  } catch (error) {
    throw buildFailure(app, `bundle.js threw while loading: ${messageOf(error, true)}`, error);
  } finally {
    for (const id of timers) clearTimeout(id);
  }
  if (!served) throw buildFailure(app, 'bundle.js did not call Flotilla.serve');
  return handler;
}

/** The message of anything thrown (possibly from the vm realm, so no instanceof). */
function messageOf(error: unknown, withName = false): string {
  if (typeof error === 'object' && error !== null && typeof (error as Error).message === 'string') {
    const { name, message } = error as Error;
    return withName && typeof name === 'string' && name !== '' ? `${name}: ${message}` : message;
  }
  return String(error);
}
