/**
 * The hydration contract between a server-rendered page and the browser:
 * the payload a page carries (which route and component rendered it, with
 * what data), how it is written into the page safely, and the names both
 * sides use. `router/page.ts` writes it; `client/hydrate.ts` reads it.
 * Bundle-safe (no DOM, no Node).
 *
 * @module
 */
import { got, integer, parseOrThrow } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import type { RenderFn } from './router/types.ts';

/** `id` of the `<script type="application/json">` that holds the payload. */
export const HYDRATION_DATA_ID = 'flotilla-data';

/**
 * Attribute of every node the server adds for hydration (the payload, the
 * module script, the preloads); the client removes them before hydrating,
 * so the DOM is exactly the component's markup again.
 */
export const HYDRATION_NODE_ATTRIBUTE = 'data-flotilla';

/** Attribute the client runtime sets on `<html>` once the page is hydrated. */
export const HYDRATED_ATTRIBUTE = 'data-hydrated';

/**
 * The route a render runs for, set by the Router on the context it passes
 * to a render function: a page hydrates only when it is its route's own
 * render function (so the browser finds it by the route's id).
 */
export const RENDER_ROUTE: unique symbol = Symbol.for('flotilla.router.renderRoute');

/** What {@link RENDER_ROUTE} holds. */
export interface RenderRoute {
  /** The route's id (its index in the manifest's routes). */
  id: number;
  /** The render function the route declared. */
  render: RenderFn;
}

/**
 * The Router method that returns the render function of a route by id
 * (`router[ROUTE_RENDER_FN](3)`), for the client runtime.
 */
export const ROUTE_RENDER_FN: unique symbol = Symbol.for('flotilla.router.routeRenderFn');

/**
 * The property of a page function (as the browser build's `reactPage` and
 * `vuePage` make them) that hydrates it.
 */
export const CLIENT_PAGE: unique symbol = Symbol.for('flotilla.clientPage');

/** What a page needs to hydrate: everything else the server knew stays on the server. */
export const HydrationPayloadSchema = v.object({
  /** Format version. */
  v: v.literal(1, got('must be 1')),
  /** Id of the route whose render function rendered the page. */
  route: integer(0, got('must be a route id')),
  /** Which component rendered: the page's own, or its `notFound` one (status 404). */
  page: v.picklist(['page', 'notFound'], got('must be "page" or "notFound"')),
  /**
   * What the component's markup is: the whole document (`<html>…`), or the
   * content of `<body>`.
   */
  root: v.picklist(['document', 'body'], got('must be "document" or "body"')),
  /** The URL of the request the server rendered (what `useRenderContext().request` gives). */
  url: v.string(got('must be a string')),
  /** The route's path parameters. */
  params: v.record(v.string(), v.string(got('must be a string'))),
  /** The loader data (absent when the page has no `load`, or it returned `undefined`). */
  data: v.optional(v.unknown()),
});

/** The hydration payload ({@link HydrationPayloadSchema}). */
export type HydrationPayload = v.InferOutput<typeof HydrationPayloadSchema>;

/**
 * Reads a payload from the text of the data script.
 *
 * @throws Error naming the field at fault, or saying the JSON does not parse.
 */
export function parseHydrationPayload(text: string): HydrationPayload {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`the hydration data is not JSON: ${(error as Error).message}`);
  }
  return parseOrThrow(
    HydrationPayloadSchema,
    json,
    '',
    (_field, _problem, said) => new Error(`the hydration data is malformed: ${said}`),
  );
}

const SCRIPT_UNSAFE = /[<>&\u2028\u2029]/g;
const SCRIPT_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * `value` as JSON that is safe inside a `<script>` element: `<`, `>`, `&`,
 * U+2028 and U+2029 are written as `\uXXXX` escapes, so no string in it can
 * close the element (`</script>`), open a comment, or end a line for an
 * older JavaScript parser; `JSON.parse` of the element's text gives `value`
 * back (for JSON data: check other values with {@link jsonProblem} first).
 *
 * @example
 * scriptJson({ name: '</script>' }); // '{"name":"\\u003c/script\\u003e"}'
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(SCRIPT_UNSAFE, (c) => SCRIPT_ESCAPES[c] ?? c);
}

/**
 * What keeps `value` from surviving a JSON round trip unchanged, e.g.
 * `data.products[3].added is a Date`; undefined when nothing does. Plain
 * objects, arrays, strings, finite numbers, booleans and `null` survive
 * (`undefined` object fields are dropped, as if absent).
 */
export function jsonProblem(value: unknown, name = 'value'): string | undefined {
  const ancestors = new Set<object>();
  const visit = (x: unknown, path: string, inArray: boolean): string | undefined => {
    if (x === null || typeof x === 'string' || typeof x === 'boolean') return undefined;
    if (typeof x === 'number') {
      return Number.isFinite(x) ? undefined : `${path} is ${x} (JSON turns it into null)`;
    }
    if (x === undefined) {
      return inArray ? `${path} is undefined (JSON turns it into null)` : undefined;
    }
    if (typeof x !== 'object') return `${path} is a ${typeof x}`;
    if (ancestors.has(x)) return `${path} is circular`;
    const proto = Object.getPrototypeOf(x);
    if (!Array.isArray(x) && proto !== Object.prototype && proto !== null) {
      const kind = (proto as { constructor?: { name?: string } }).constructor?.name || 'object';
      return `${path} is a ${kind}, not a plain object`;
    }
    ancestors.add(x);
    try {
      if (Array.isArray(x)) {
        for (let i = 0; i < x.length; i++) {
          const problem = visit(x[i], `${path}[${i}]`, true);
          if (problem !== undefined) return problem;
        }
        return undefined;
      }
      for (const [key, item] of Object.entries(x)) {
        const at = /^[A-Za-z_$][\w$]*$/.test(key)
          ? `${path}.${key}`
          : `${path}[${JSON.stringify(key)}]`;
        const problem = visit(item, at, false);
        if (problem !== undefined) return problem;
      }
      return undefined;
    } finally {
      ancestors.delete(x);
    }
  };
  return visit(value, name, false);
}
