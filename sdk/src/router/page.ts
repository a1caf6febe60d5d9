/**
 * What the React and Vue adapters share: load, status, not-found handling,
 * the HTML document around the rendered markup, and what the page ships
 * to hydrate in the browser.
 *
 * @module
 */
import {
  HYDRATION_DATA_ID,
  HYDRATION_NODE_ATTRIBUTE,
  type HydrationPayload,
  jsonProblem,
  RENDER_ROUTE,
  type RenderRoute,
  scriptJson,
} from '../hydration.ts';
import { requestPrefix } from '../path-prefix.ts';
import { isNotFound } from './errors.ts';
import type { RenderContext, RenderFn } from './types.ts';

/** The browser code of a build, as `flotilla build` compiles it into the bundle. */
export interface ClientScripts {
  /** URL path of the module script that hydrates (`/assets/client/main-3FQ2LZ7A.js`). */
  entry: string;
  /** URL paths of the chunks it imports, preloaded with the page. */
  preload: string[];
}

/**
 * The build's browser code, injected by the build with esbuild's `define`;
 * absent or null when the build has none (tests, tools, apps without pages).
 */
declare const __FLOTILLA_CLIENT__: ClientScripts | null | undefined;

/** The parts a custom HTML document is made of. */
export interface DocumentParts<T> {
  /** The rendered markup of the page's component. */
  html: string;
  /** The page's `head` (`''` when none). */
  head: string;
  /** The loader data (the not-found data for a 404). */
  data: T | undefined;
  /** The response status. */
  status: number;
  /** The render context. */
  ctx: RenderContext;
}

/** Options of a page (`reactPage`, `vuePage`); `C` is the framework's component type. */
export interface PageOptions<T, C> {
  /**
   * Loads the page's data before rendering (fetch declared backends with
   * `ctx.backend(name)`). Its value reaches components through
   * `useLoaderData()`. Throw `notFound()` to answer the not-found page with
   * status 404.
   */
  load?: (ctx: RenderContext) => T | Promise<T>;
  /** The response status, or a function of the loader data. @default 200 */
  status?: number | ((data: T) => number);
  /**
   * HTML put in `<head>` (a string, or a function of the loader data). With
   * a head, the document is `<!doctype html><html><head>HEAD</head><body>
   * MARKUP</body></html>`; without one it is `<!doctype html>MARKUP`, for
   * components that render the whole `<html>`. Not used for the not-found
   * page when it is a function.
   */
  head?: string | ((data: T) => string);
  /** Builds the whole document instead (return the complete HTML). */
  document?: (parts: DocumentParts<T>) => string;
  /**
   * The component rendered when `load` throws `notFound()` (its loader data
   * is what `notFound(data)` was given). @default a plain "Not found" document
   */
  notFound?: C;
  /** Extra response headers. `content-type` is `text/html; charset=utf-8` unless set here. */
  headers?: Record<string, string>;
  /**
   * Ship the browser code that hydrates the page (when the build has it and
   * the page is its route's render function). `false`: the page stays plain
   * HTML, with no data script and no JavaScript.
   * @default true
   */
  hydrate?: boolean;
}

const DEFAULT_NOT_FOUND =
  '<html><head><meta charset="utf-8"><title>Not found</title></head><body><h1>Not found</h1></body></html>';

/**
 * A framework's page function (`reactPage`, `vuePage`): the render function
 * of a component with the page's options.
 */
export type PageFunction<C> = <T = unknown>(component: C, options?: PageOptions<T, C>) => RenderFn;

/** A framework's "render this component with this data to an HTML string". */
export type RenderMarkup<C> = (
  component: C,
  data: unknown,
  ctx: RenderContext,
) => string | Promise<string>;

/**
 * The page function of a framework (`adapter` names it in errors): it checks
 * the component and the options, and makes a {@link RenderFn} that renders
 * with `renderMarkup`.
 */
export function pageFunction<C>(adapter: string, renderMarkup: RenderMarkup<C>): PageFunction<C> {
  return (component, options = {}) => {
    checkComponent(adapter, component);
    return pageRenderFn(adapter, component, options, renderMarkup);
  };
}

/** Makes a {@link RenderFn} from a framework's {@link RenderMarkup}. */
function pageRenderFn<T, C>(
  adapter: string,
  component: C,
  options: PageOptions<T, C>,
  renderMarkup: RenderMarkup<C>,
): RenderFn {
  checkOptions(adapter, options);
  const renderPage: RenderFn = async (ctx) => {
    let data: T | undefined;
    let status: number;
    let target: C | undefined = component;
    let head = '';
    try {
      data = options.load ? await options.load(ctx) : undefined;
      status =
        typeof options.status === 'function' ? options.status(data as T) : (options.status ?? 200);
      head = typeof options.head === 'function' ? options.head(data as T) : (options.head ?? '');
    } catch (err) {
      if (!isNotFound(err)) throw err;
      status = 404;
      data = err.data as T | undefined;
      target = options.notFound;
      head = typeof options.head === 'string' ? options.head : '';
    }
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new TypeError(
        `${adapter}: status must be an integer from 200 to 599 (got ${String(status)})`,
      );
    }
    const html = target === undefined ? DEFAULT_NOT_FOUND : await renderMarkup(target, data, ctx);
    const document = options.document
      ? options.document({ html, head, data, status, ctx })
      : head === ''
        ? `<!doctype html>${html}`
        : `<!doctype html><html><head>${head}</head><body>${html}</body></html>`;
    const route = (ctx as { [RENDER_ROUTE]?: RenderRoute })[RENDER_ROUTE];
    const client = typeof __FLOTILLA_CLIENT__ === 'undefined' ? null : __FLOTILLA_CLIENT__;
    const body =
      client && target !== undefined && options.hydrate !== false && route?.render === renderPage
        ? withHydration(
            document,
            client,
            ctx,
            {
              v: 1,
              route: route.id,
              page: target === component ? 'page' : 'notFound',
              root:
                !options.document && head === '' && /^<html[\s>]/i.test(html) ? 'document' : 'body',
              url: ctx.request.url,
              params: ctx.params,
              data,
            },
            adapter,
          )
        : document;
    const headers = new Headers({ 'content-type': 'text/html; charset=utf-8' });
    for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
    return new Response(body, { status, headers });
  };
  return renderPage;
}

/** `&`, `"`, `<`, `>` as entities, for a double-quoted attribute value. */
function attribute(value: string): string {
  return value.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * `document` with what hydrates it put before its last `</body>` (at the
 * end when it has none): the payload as a JSON data script, modulepreload
 * links of the chunks, and the module script, every URL under the request's
 * prefix.
 */
function withHydration(
  document: string,
  client: ClientScripts,
  ctx: RenderContext,
  payload: HydrationPayload,
  adapter: string,
): string {
  const problem = jsonProblem(payload.data, 'data');
  if (problem !== undefined) {
    throw new TypeError(
      `${adapter}: the page's data cannot be sent to the browser to hydrate it: ${problem}. ` +
        'Return plain JSON data from load (objects, arrays, strings, finite numbers, booleans, null), ' +
        'or set hydrate: false',
    );
  }
  const json = scriptJson(payload);
  const prefix = requestPrefix(ctx.request);
  const mark = HYDRATION_NODE_ATTRIBUTE;
  const tags = [
    `<script type="application/json" id="${HYDRATION_DATA_ID}" ${mark}>${json}</script>`,
    ...client.preload.map(
      (path) => `<link rel="modulepreload" href="${attribute(prefix + path)}" ${mark}>`,
    ),
    `<script type="module" src="${attribute(prefix + client.entry)}" ${mark}></script>`,
  ].join('');
  const at = document.toLowerCase().lastIndexOf('</body>');
  return at === -1 ? document + tags : document.slice(0, at) + tags + document.slice(at);
}

/**
 * Checks that `component` can be a component (a function or an object).
 *
 * @throws TypeError `<adapter>: needs a component`.
 */
export function checkComponent(adapter: string, component: unknown): void {
  if (typeof component !== 'function' && (typeof component !== 'object' || component === null)) {
    throw new TypeError(`${adapter}: needs a component`);
  }
}

/**
 * Checks a page's options (the same in the server and the browser build).
 *
 * @throws TypeError naming the adapter and the option at fault.
 */
export function checkOptions(adapter: string, options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${adapter}: options must be an object`);
  }
  const known = ['load', 'status', 'head', 'document', 'notFound', 'headers', 'hydrate'];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`${adapter}: unknown option "${key}" (known: ${known.join(', ')})`);
    }
  }
  const o = options as Record<string, unknown>;
  for (const fn of ['load', 'document'] as const) {
    if (o[fn] !== undefined && typeof o[fn] !== 'function') {
      throw new TypeError(`${adapter}: option "${fn}" must be a function`);
    }
  }
  if (o.status !== undefined && typeof o.status !== 'number' && typeof o.status !== 'function') {
    throw new TypeError(`${adapter}: option "status" must be a number or a function of the data`);
  }
  if (o.head !== undefined && typeof o.head !== 'string' && typeof o.head !== 'function') {
    throw new TypeError(`${adapter}: option "head" must be a string or a function of the data`);
  }
  if (o.hydrate !== undefined && typeof o.hydrate !== 'boolean') {
    throw new TypeError(`${adapter}: option "hydrate" must be true or false`);
  }
}
