/**
 * The EdgeJS handler helpers of the response writer that go beyond the
 * basic actions: header rules with regular expressions, upstream header
 * rules, response cookies, CORS, `compute()`, `serviceWorker()` and
 * single-file `serveStatic()`. Everything but `compute()` is recorded as
 * manifest data.
 *
 * @module
 */
import {
  HEADER_REGEX_FLAGS,
  HTTP_METHODS,
  type RegexSpec,
  type RouteAction,
  regexProblem,
  regexSpecOf,
} from '@flotilla/manifest';
import { HTTP_TOKEN } from '@flotilla/protocol/patterns';
import type { ComputeFn, CorsOptions, ResponseWriter } from './types.ts';
import type { Recording } from './writer.ts';

/** What the helpers need of the writer they extend. */
export interface HelperContext {
  recording: Recording;
  bad(call: string, problem: string): never;
  live(call: string): void;
  terminal(call: string, action: RouteAction): void;
  headerName(call: string, name: unknown): string;
  headerValue(call: string, value: unknown): string;
  options<T extends object>(call: string, value: unknown, known: string[]): Partial<T>;
}

type HelperMethods = Pick<
  ResponseWriter,
  | 'updateResponseHeader'
  | 'updateUpstreamResponseHeader'
  | 'updateRequestHeader'
  | 'setUpstreamResponseHeader'
  | 'addResponseCookie'
  | 'allowCors'
  | 'compute'
  | 'serviceWorker'
  | 'renderWithApp'
>;

/** The helpers, and what `serveStatic()` shares with them. */
export interface HandlerHelpers {
  writer: HelperMethods;
  /** A path naming one file (its last segment has an extension), not a directory. */
  isFile(path: string): boolean;
  /** The `asset` action of one file. */
  assetAction(call: string, file: string, statusCode: unknown, serviceWorker: boolean): RouteAction;
}

/** A RegExp from any realm (the build evaluates the bundle in a `node:vm` context). */
function isRegExp(value: unknown): value is RegExp {
  return Object.prototype.toString.call(value) === '[object RegExp]';
}

/** Makes the helpers for one writer. */
export function handlerHelpers(ctx: HelperContext): HandlerHelpers {
  const { recording, bad, live, terminal, headerName, headerValue } = ctx;

  const regex = (call: string, pattern: unknown): RegexSpec => {
    if (!isRegExp(pattern)) {
      bad(
        call,
        `the pattern must be a regular expression, e.g. /max-age=\\d+/ (got ${typeof pattern})`,
      );
    }
    const { source, flags } = pattern as RegExp;
    const problem = regexProblem(source, flags, HEADER_REGEX_FLAGS);
    if (problem !== undefined) bad(call, `the regular expression ${String(pattern)} ${problem}`);
    return regexSpecOf(pattern as RegExp);
  };

  const update = (call: string, name: unknown, pattern: unknown, replacement: unknown) => ({
    name: headerName(call, name),
    ...regex(call, pattern),
    replacement: headerValue(call, replacement),
  });

  const names = (call: string, field: string, value: unknown): string[] => {
    if (!Array.isArray(value)) bad(call, `option "${field}" must be an array of header names`);
    return (value as unknown[]).map((n) => headerName(`${call} option "${field}"`, n));
  };

  const isFile = (path: string): boolean => {
    const last = path.split(/[\\/]/).pop() ?? '';
    return !/[:*]/.test(path) && /.\.[A-Za-z0-9]+$/.test(last);
  };

  const assetAction = (
    call: string,
    file: string,
    statusCode: unknown,
    serviceWorker: boolean,
  ): RouteAction => {
    if (
      statusCode !== undefined &&
      (!Number.isInteger(statusCode) ||
        (statusCode as number) < 200 ||
        (statusCode as number) > 599)
    ) {
      bad(
        call,
        `option "statusCode" must be an integer from 200 to 599 (got ${String(statusCode)})`,
      );
    }
    const action: RouteAction = { kind: 'asset', file: file.replace(/^(\.\/|\/)+/, '') };
    if (statusCode !== undefined) action.status = statusCode as number;
    if (serviceWorker) action.serviceWorker = true;
    return action;
  };

  const writer: HelperMethods = {
    updateResponseHeader(name, pattern, replacement) {
      const call = 'updateResponseHeader()';
      live(call);
      recording.headerOps.push({
        op: 'updateResponse',
        ...update(call, name, pattern, replacement),
      });
    },
    updateUpstreamResponseHeader(name, pattern, replacement) {
      const call = 'updateUpstreamResponseHeader()';
      live(call);
      recording.headerOps.push({
        op: 'updateUpstreamResponse',
        ...update(call, name, pattern, replacement),
      });
    },
    updateRequestHeader(name, pattern, replacement) {
      const call = 'updateRequestHeader()';
      live(call);
      recording.headerOps.push({
        op: 'updateRequest',
        ...update(call, name, pattern, replacement),
      });
    },
    setUpstreamResponseHeader(name, value) {
      const call = 'setUpstreamResponseHeader()';
      live(call);
      recording.headerOps.push({
        op: 'setUpstreamResponse',
        name: headerName(call, name),
        value: headerValue(call, value),
      });
    },
    addResponseCookie(name, value) {
      const call = 'addResponseCookie()';
      live(call);
      if (typeof name !== 'string' || !HTTP_TOKEN.test(name)) {
        bad(call, `${JSON.stringify(name)} is not a cookie name`);
      }
      const v = headerValue(call, value);
      if (/[;,\s]/.test(v)) {
        bad(
          call,
          'the value must not contain ";", "," or white space (encode it, e.g. encodeURIComponent)',
        );
      }
      recording.headerOps.push({ op: 'addResponseCookie', name, value: v });
    },
    allowCors(opts?: CorsOptions) {
      const call = 'allowCors()';
      live(call);
      const o = ctx.options<CorsOptions>(call, opts, [
        'origin',
        'methods',
        'headers',
        'exposeHeaders',
        'credentials',
        'maxAge',
      ]);
      const origin = o.origin ?? '*';
      if (
        typeof origin !== 'string' &&
        !(Array.isArray(origin) && origin.every((x) => typeof x === 'string' && x !== ''))
      ) {
        bad(call, 'option "origin" must be "*", an origin, or an array of origins');
      }
      const op: Extract<Recording['headerOps'][number], { op: 'cors' }> = {
        op: 'cors',
        origin: Array.isArray(origin) ? [...origin] : origin,
      };
      if (o.methods !== undefined) {
        if (!Array.isArray(o.methods)) bad(call, 'option "methods" must be an array of methods');
        op.methods = o.methods.map((m) => {
          const upper = typeof m === 'string' ? m.toUpperCase() : '';
          if (!(HTTP_METHODS as readonly string[]).includes(upper)) {
            bad(
              call,
              `option "methods": ${JSON.stringify(m)} is not one of ${HTTP_METHODS.join(', ')}`,
            );
          }
          return upper as (typeof HTTP_METHODS)[number];
        });
      }
      if (o.headers !== undefined) op.headers = names(call, 'headers', o.headers);
      if (o.exposeHeaders !== undefined) {
        op.exposeHeaders = names(call, 'exposeHeaders', o.exposeHeaders);
      }
      if (o.credentials !== undefined) {
        if (typeof o.credentials !== 'boolean')
          bad(call, 'option "credentials" must be true or false');
        op.credentials = o.credentials;
      }
      if (o.maxAge !== undefined) {
        if (!Number.isInteger(o.maxAge) || o.maxAge < 0) {
          bad(call, `option "maxAge" must be a whole number of seconds (got ${String(o.maxAge)})`);
        }
        op.maxAge = o.maxAge;
      }
      recording.headerOps.push(op);
    },
    compute(fn: ComputeFn) {
      live('compute()');
      if (typeof fn !== 'function') {
        bad('compute()', `needs a function (request, response) => void (got ${typeof fn})`);
      }
      terminal('compute()', { kind: 'render' });
      recording.compute = fn;
    },
    serviceWorker(file: string) {
      live('serviceWorker()');
      const call = `serviceWorker(${JSON.stringify(file)})`;
      if (typeof file !== 'string' || !isFile(file)) {
        bad(call, 'needs the path of the service worker file, e.g. "public/service-worker.js"');
      }
      if (file.split(/[\\/]/).includes('..')) bad(call, 'the path must not contain ".."');
      terminal(call, assetAction(call, file, undefined, true));
    },
    renderWithApp() {
      live('renderWithApp()');
      bad(
        'renderWithApp()',
        'a Router app has no framework app to hand the request to: Flotilla builds framework apps ' +
          '(Next.js, Nuxt, SvelteKit, Angular, React Router) from their own routes, without a Router; ' +
          'render the page with render(fn) (or reactPage/vuePage)',
      );
    },
  };

  return { writer, isFile, assetAction };
}
