/**
 * `@flotilla/sdk/react`: React pages for the Router.
 *
 * Rendering uses `renderToString` from `react-dom/server.edge`: the browser
 * build (what `react-dom/server` resolves to for `platform: 'browser'`)
 * creates a `MessageChannel` when it loads, which the isolate lacks.
 *
 * In the build's browser code this module is replaced by
 * `client/react.ts`, which has the same exports and hydrates the page
 * (`hydrateRoot`) instead of rendering it.
 *
 * @module
 */
import type { ComponentType } from 'react';
import { renderToString } from 'react-dom/server.edge';
import { pageElement } from './react-context.ts';
import { isNotFound, NotFoundError, notFound } from './router/errors.ts';
import { type DocumentParts, type PageOptions, pageFunction } from './router/page.ts';
import type { RenderContext, RenderFn } from './router/types.ts';

export { useLoaderData, useRenderContext } from './react-context.ts';
export type { DocumentParts, RenderContext, RenderFn };
export { isNotFound, NotFoundError, notFound };

/** Options of {@link reactPage}. */
export type ReactPageOptions<T> = PageOptions<T, ComponentType>;

/**
 * Makes a render function that renders `Component` to an HTML document.
 * `load` runs first; its value reaches components through
 * `useLoaderData()`. When the build has browser code, the page also
 * carries its data and the module script that hydrates it (`hydrateRoot`
 * over the same component with the same data).
 *
 * @param Component - The page component (no props).
 * @param options - `load`, `status`, `head`, `document`, `notFound`, `headers`, `hydrate`.
 * @example
 * const productPage = reactPage(ProductPage, {
 *   load: ({ params, backend }) => backend('api').json<Product>(`/products/${params.productId}`),
 *   head: (p) => `<title>${escapeHtml(p.name)}</title>`,
 * });
 * router.get('/p/:productId', ({ render }) => render(productPage));
 */
export const reactPage = pageFunction<ComponentType>('reactPage', (C, data, ctx) =>
  renderToString(pageElement(C, data, ctx)),
);
