/**
 * The recording response writer: what a route handler calls, turned into
 * the route's manifest description plus the functions the bundle runs at
 * request time.
 *
 * @module
 */
import {
  type HeaderOp,
  ManifestError,
  mergeCacheOptions,
  type PatternParam,
  REDIRECT_STATUS_CODES,
  type RequestFacts,
  type RouteAction,
  type RouteCacheOptions,
  validateCacheOptions,
} from '@flotilla/manifest';
import { BACKEND_NAME, HTTP_TOKEN, UNSAFE_HEADER_VALUE } from '@flotilla/protocol/patterns';
import { InvalidRouteError } from './errors.ts';
import type {
  CacheOptions,
  ComputeFn,
  PassRequestFactsOptions,
  ProxyOptions,
  RedirectOptions,
  RenderFn,
  ResponseWriter,
  ServeStaticFileOptions,
  ServeStaticOptions,
} from './types.ts';
import { handlerHelpers } from './writer-helpers.ts';

/** What one run of a handler declared. */
export interface Recording {
  /** The terminal action, or `headers` when the handler declared none. */
  action: RouteAction;
  /** The helper that set the action, for messages (`render()`). */
  actionCall: string | undefined;
  cache: RouteCacheOptions | undefined;
  headerOps: HeaderOp[];
  render: RenderFn | undefined;
  send: { body: string; status: number; headers: Record<string, string> } | undefined;
  transformResponse: ProxyOptions['transformResponse'];
  /** `proxy()`'s `transformRequest`. */
  transformRequest: ProxyOptions['transformRequest'];
  /** `proxy()`'s `path` when it is a function. */
  proxyPath: Exclude<ProxyOptions['path'], string>;
  /** What `compute()` runs. */
  compute: ComputeFn | undefined;
  /** What `passRequestFacts()` declared. */
  requestFacts?: RequestFacts | undefined;
}

/** A writer for one run of one handler, and what it recorded. */
export interface WriterRun {
  writer: ResponseWriter;
  recording: Recording;
  /** Ends the run: later calls (and reads of `request`/`params`) throw. */
  seal(): void;
}

/**
 * Makes the writer a handler gets.
 *
 * @param params - The route pattern's parameters (templates may only use these).
 * @param request - The synthetic request of this run.
 * @param syntheticParams - Its parameters.
 */
export function createWriter(
  params: readonly PatternParam[],
  request: Request,
  syntheticParams: Record<string, string>,
): WriterRun {
  let sealed = false;
  const recording: Recording = {
    action: { kind: 'headers' },
    actionCall: undefined,
    cache: undefined,
    headerOps: [],
    render: undefined,
    send: undefined,
    transformResponse: undefined,
    transformRequest: undefined,
    proxyPath: undefined,
    compute: undefined,
  };
  const names = new Set(params.map((p) => p.name));

  const bad = (call: string, problem: string): never => {
    throw new InvalidRouteError(`${call}: ${problem}`);
  };
  const live = (call: string): void => {
    if (sealed) {
      bad(
        call,
        'called after the handler returned; handlers declare synchronously (put async work in the function given to render())',
      );
    }
  };
  const terminal = (call: string, action: RouteAction): void => {
    if (recording.actionCall) {
      bad(call, `the route already answers with ${recording.actionCall}; a route has one action`);
    }
    recording.action = action;
    recording.actionCall = call.replace(/\(.*$/, '()');
  };
  const checkTemplate = (call: string, template: string): void => {
    const pathPart =
      template.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').split(/[?#](?![/?#]|$)/)[0] ?? '';
    for (const m of pathPart.matchAll(/\/:([A-Za-z_][A-Za-z0-9_]*)/g)) {
      const name = m[1] as string;
      if (!names.has(name)) {
        bad(
          call,
          `${JSON.stringify(template)} uses ":${name}", which the route's path has no parameter for` +
            (names.size ? ` (it has ${[...names].map((n) => `:${n}`).join(', ')})` : ''),
        );
      }
    }
  };
  const headerName = (call: string, name: unknown): string => {
    if (typeof name !== 'string' || !HTTP_TOKEN.test(name)) {
      bad(call, `${JSON.stringify(name)} is not a header name`);
    }
    return (name as string).toLowerCase();
  };
  const headerValue = (call: string, value: unknown): string => {
    if (typeof value !== 'string') bad(call, `the value must be a string (got ${typeof value})`);
    if (UNSAFE_HEADER_VALUE.test(value as string))
      bad(call, 'the value must not contain CR, LF or NUL');
    return value as string;
  };
  const options = <T extends object>(call: string, value: unknown, known: string[]): Partial<T> => {
    if (value === undefined) return {};
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      bad(call, 'options must be an object');
    }
    for (const key of Object.keys(value as object)) {
      if (!known.includes(key)) {
        bad(call, `unknown option "${key}" (known: ${known.join(', ')})`);
      }
    }
    return value as Partial<T>;
  };

  const guard = <T extends object>(what: string, target: T): T =>
    new Proxy(target, {
      get(t, prop) {
        if (sealed) {
          throw new InvalidRouteError(
            `the handler's ${what} was read after the handler returned (in a render function?): ` +
              `handlers run at build time with a synthetic request; use ctx.${what} in the render function`,
          );
        }
        const value = Reflect.get(t, prop, t);
        return typeof value === 'function' ? value.bind(t) : value;
      },
    });

  const helpers = handlerHelpers({
    recording,
    bad,
    live,
    terminal,
    headerName,
    headerValue,
    options,
  });
  const writer: ResponseWriter = {
    ...helpers.writer,
    get request() {
      return guard('request', request);
    },
    get params() {
      return guard('params', syntheticParams);
    },
    cache(opts: CacheOptions) {
      live('cache()');
      let value: unknown = opts;
      if (typeof opts === 'object' && opts !== null && opts.key !== undefined) {
        const key = opts.key as { toSpec?: () => unknown };
        value = { ...opts, key: typeof key.toSpec === 'function' ? key.toSpec() : key };
      }
      let valid: RouteCacheOptions;
      try {
        valid = validateCacheOptions(value, 'cache()');
      } catch (err) {
        if (err instanceof ManifestError) return bad('cache()', `${err.field} ${err.problem}`);
        throw err;
      }
      recording.cache = mergeCacheOptions(recording.cache, valid);
    },
    render(fn: RenderFn) {
      live('render()');
      if (typeof fn !== 'function') {
        bad('render()', `needs a render function (ctx) => Response (got ${typeof fn})`);
      }
      terminal('render()', { kind: 'render' });
      recording.render = fn;
    },
    proxy(backend: string, opts?: ProxyOptions) {
      live('proxy()');
      const call = `proxy(${JSON.stringify(backend)})`;
      if (typeof backend !== 'string' || !BACKEND_NAME.test(backend)) {
        bad(
          call,
          'the backend name must be 1-63 of a-z, 0-9, "-", "_", starting with a letter or digit',
        );
      }
      const o = options<ProxyOptions>(call, opts, [
        'path',
        'transformRequest',
        'transformResponse',
      ]);
      const action: RouteAction = { kind: 'proxy', backend };
      if (typeof o.path === 'function') {
        recording.proxyPath = o.path;
      } else if (o.path !== undefined) {
        if (typeof o.path !== 'string' || !o.path.startsWith('/')) {
          bad(call, `option "path" must start with "/" (got ${JSON.stringify(o.path)})`);
        }
        checkTemplate(call, o.path);
        action.path = o.path;
      }
      if (o.transformResponse !== undefined && typeof o.transformResponse !== 'function') {
        bad(call, 'option "transformResponse" must be a function (response, request) => Response');
      }
      if (o.transformRequest !== undefined && typeof o.transformRequest !== 'function') {
        bad(call, 'option "transformRequest" must be a function (request) => Request | undefined');
      }
      // No code to run: the shield may answer this route itself.
      if (
        typeof o.path !== 'function' &&
        o.transformRequest === undefined &&
        o.transformResponse === undefined
      ) {
        action.noCode = true;
      }
      terminal(call, action);
      recording.transformResponse = o.transformResponse;
      recording.transformRequest = o.transformRequest;
    },
    redirect(to: string, opts?: RedirectOptions) {
      live('redirect()');
      const call = `redirect(${JSON.stringify(to)})`;
      if (typeof to !== 'string' || (!to.startsWith('/') && !/^https?:\/\//i.test(to))) {
        bad(call, 'the target must be a path ("/…") or an http(s) URL');
      }
      if (UNSAFE_HEADER_VALUE.test(to)) bad(call, 'the target must not contain CR, LF or NUL');
      const o = options<RedirectOptions>(call, opts, ['statusCode']);
      const statusCode = o.statusCode ?? 302;
      if (!REDIRECT_STATUS_CODES.includes(statusCode)) {
        bad(
          call,
          `option "statusCode" must be one of ${REDIRECT_STATUS_CODES.join(', ')} (got ${String(statusCode)})`,
        );
      }
      checkTemplate(call, to);
      terminal(call, { kind: 'redirect', to, statusCode });
    },
    serveStatic(dir: string, opts?: ServeStaticOptions | ServeStaticFileOptions) {
      live('serveStatic()');
      const call = `serveStatic(${JSON.stringify(dir)})`;
      if (typeof dir !== 'string' || dir === '')
        bad(call, 'the directory must be a non-empty path');
      if (dir.split(/[\\/]/).includes('..')) bad(call, 'the directory must not contain ".."');
      if (helpers.isFile(dir)) {
        const f = options<ServeStaticFileOptions>(call, opts, ['statusCode']);
        terminal(call, helpers.assetAction(call, dir, f.statusCode, false));
        return;
      }
      const o = options<ServeStaticOptions>(call, opts, ['permanent', 'exclude']);
      if (o.permanent !== undefined && typeof o.permanent !== 'boolean') {
        bad(call, 'option "permanent" must be true or false');
      }
      const action: RouteAction = { kind: 'static', dir, permanent: o.permanent ?? false };
      if (o.exclude !== undefined) {
        if (!Array.isArray(o.exclude) || o.exclude.some((f) => typeof f !== 'string' || f === '')) {
          bad(call, 'option "exclude" must be an array of file paths');
        }
        action.exclude = [...o.exclude];
      }
      terminal(call, action);
    },
    send(body: string, status = 200, headers: Record<string, string> = {}) {
      live('send()');
      if (typeof body !== 'string') bad('send()', `the body must be a string (got ${typeof body})`);
      if (!Number.isInteger(status) || status < 200 || status > 599) {
        bad('send()', `the status must be an integer from 200 to 599 (got ${String(status)})`);
      }
      if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
        bad('send()', 'headers must be an object of name → value');
      }
      const h: Record<string, string> = {};
      for (const [name, value] of Object.entries(headers)) {
        h[headerName('send()', name)] = headerValue('send()', value);
      }
      terminal('send()', { kind: 'render' });
      recording.send = { body, status, headers: h };
    },
    setResponseHeader(name: string, value: string) {
      live('setResponseHeader()');
      recording.headerOps.push({
        op: 'setResponse',
        name: headerName('setResponseHeader()', name),
        value: headerValue('setResponseHeader()', value),
      });
    },
    removeResponseHeader(name: string) {
      live('removeResponseHeader()');
      recording.headerOps.push({
        op: 'removeResponse',
        name: headerName('removeResponseHeader()', name),
      });
    },
    removeUpstreamResponseHeader(name: string) {
      live('removeUpstreamResponseHeader()');
      recording.headerOps.push({
        op: 'removeUpstreamResponse',
        name: headerName('removeUpstreamResponseHeader()', name),
      });
    },
    setRequestHeader(name: string, value: string) {
      live('setRequestHeader()');
      recording.headerOps.push({
        op: 'setRequest',
        name: headerName('setRequestHeader()', name),
        value: headerValue('setRequestHeader()', value),
      });
    },
    removeRequestHeader(name: string) {
      live('removeRequestHeader()');
      recording.headerOps.push({
        op: 'removeRequest',
        name: headerName('removeRequestHeader()', name),
      });
    },
    passRequestFacts(facts: string[], opts: PassRequestFactsOptions) {
      live('passRequestFacts()');
      const call = 'passRequestFacts()';
      if (!Array.isArray(facts) || facts.length === 0) {
        bad(call, 'needs a non-empty list of facts ("client-ip" or header names)');
      }
      const names = facts.map((f) => (f === 'client-ip' ? f : headerName(call, f)));
      const o = options<PassRequestFactsOptions>(call, opts, ['cacheKey']);
      if (o.cacheKey !== 'add' && o.cacheKey !== 'none') {
        bad(
          call,
          `option "cacheKey" is required: "add" (each value its own cached copy) or "none" (passed unkeyed: the response must not depend on it), got ${JSON.stringify(o.cacheKey)}`,
        );
      }
      const prev = recording.requestFacts;
      if (prev && prev.cacheKey !== o.cacheKey) {
        bad(call, 'a route passes its facts either keyed or unkeyed, not both');
      }
      recording.requestFacts = {
        names: [...new Set([...(prev?.names ?? []), ...names])],
        cacheKey: o.cacheKey as 'add' | 'none',
      };
    },
  };

  return {
    writer,
    recording,
    seal: () => {
      sealed = true;
    },
  };
}
