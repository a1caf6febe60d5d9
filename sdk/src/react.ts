/**
 * `@flotilla/sdk/react`: React pages for the Router.
 *
 * Rendering uses `renderToString` from `react-dom/server.edge`: the browser
 * build (what `react-dom/server` resolves to for `platform: 'browser'`)
 * creates a `MessageChannel` when it loads, which the isolate lacks.
 *
 * @module
 */
import { type ComponentType, createContext, createElement, useContext } from 'react';
import { renderToString } from 'react-dom/server.edge';
import { isNotFound, NotFoundError, notFound } from './router/errors.ts';
import { type DocumentParts, type PageOptions, pageRenderFn } from './router/page.ts';
import type { RenderContext, RenderFn } from './router/types.ts';

export type { DocumentParts, RenderContext, RenderFn };
export { isNotFound, NotFoundError, notFound };

/** Options of {@link reactPage}. */
export type ReactPageOptions<T> = PageOptions<T, ComponentType>;

const MISSING = Symbol('flotilla.noLoaderData');
const LoaderData = createContext<unknown>(MISSING);
const Render = createContext<RenderContext | undefined>(undefined);

/**
 * Makes a render function that renders `Component` to an HTML document.
 * `load` runs first; its value reaches components through
 * {@link useLoaderData}.
 *
 * @param Component - The page component (no props).
 * @param options - `load`, `status`, `head`, `document`, `notFound`, `headers`.
 * @example
 * const productPage = reactPage(ProductPage, {
 *   load: ({ params, backend }) => backend('api').json<Product>(`/products/${params.productId}`),
 *   head: (p) => `<title>${escapeHtml(p.name)}</title>`,
 * });
 * router.get('/p/:productId', ({ render }) => render(productPage));
 */
export function reactPage<T = unknown>(
  Component: ComponentType,
  options: ReactPageOptions<T> = {},
): RenderFn {
  if (typeof Component !== 'function' && (typeof Component !== 'object' || Component === null)) {
    throw new TypeError('reactPage: needs a component');
  }
  return pageRenderFn<T, ComponentType>('reactPage', Component, options, (C, data, ctx) =>
    renderToString(
      createElement(
        Render.Provider,
        { value: ctx },
        createElement(LoaderData.Provider, { value: data }, createElement(C)),
      ),
    ),
  );
}

/**
 * The value the page's `load` returned (the not-found data on a 404
 * page). Only inside components rendered by {@link reactPage}.
 *
 * @throws Error outside a page rendered by `reactPage`.
 */
export function useLoaderData<T>(): T {
  const data = useContext(LoaderData);
  if (data === MISSING) {
    throw new Error('useLoaderData() works only in components rendered by reactPage()');
  }
  return data as T;
}

/**
 * The render context (request, params, env, backends) of the page being
 * rendered. Only inside components rendered by {@link reactPage}.
 */
export function useRenderContext(): RenderContext {
  const ctx = useContext(Render);
  if (!ctx) throw new Error('useRenderContext() works only in components rendered by reactPage()');
  return ctx;
}
