/**
 * What the React and Vue adapters share: load, status, not-found handling
 * and the HTML document around the rendered markup.
 *
 * @module
 */
import { isNotFound } from './errors.ts';
import type { RenderContext, RenderFn } from './types.ts';

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
}

const DEFAULT_NOT_FOUND =
  '<html><head><meta charset="utf-8"><title>Not found</title></head><body><h1>Not found</h1></body></html>';

/**
 * Makes a {@link RenderFn} from a framework's "render this component with
 * this data to an HTML string".
 */
export function pageRenderFn<T, C>(
  adapter: string,
  component: C,
  options: PageOptions<T, C>,
  renderMarkup: (component: C, data: T | undefined, ctx: RenderContext) => string | Promise<string>,
): RenderFn {
  checkOptions(adapter, options);
  return async (ctx) => {
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
    const body = options.document
      ? options.document({ html, head, data, status, ctx })
      : head === ''
        ? `<!doctype html>${html}`
        : `<!doctype html><html><head>${head}</head><body>${html}</body></html>`;
    const headers = new Headers({ 'content-type': 'text/html; charset=utf-8' });
    for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
    return new Response(body, { status, headers });
  };
}

function checkOptions(adapter: string, options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${adapter}: options must be an object`);
  }
  const known = ['load', 'status', 'head', 'document', 'notFound', 'headers'];
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
}
