/**
 * `@flotilla/sdk/vue`: Vue pages for the Router, rendered with
 * `renderToString` from `@vue/server-renderer`.
 *
 * In the build's browser code this module is replaced by `client/vue.ts`,
 * which has the same exports and mounts the page over the server's markup
 * (`createSSRApp(…).mount`) instead of rendering it.
 *
 * @module
 */
import { renderToString } from '@vue/server-renderer';
import type { Component } from 'vue';
import { isNotFound, NotFoundError, notFound } from './router/errors.ts';
import { type DocumentParts, type PageOptions, pageFunction } from './router/page.ts';
import type { RenderContext, RenderFn } from './router/types.ts';
import { createPageApp } from './vue-context.ts';

export { useLoaderData, useRenderContext } from './vue-context.ts';
export type { DocumentParts, RenderContext, RenderFn };
export { isNotFound, NotFoundError, notFound };

/** Options of {@link vuePage}. */
export type VuePageOptions<T> = PageOptions<T, Component>;

/**
 * Makes a render function that renders `component` (as the root of a new
 * SSR app per request) to an HTML document. `load` runs first; its value
 * reaches components through `useLoaderData()`. When the build has browser
 * code, the page also carries its data and the module script that
 * hydrates it (`createSSRApp(component).mount(…)` with the same data).
 *
 * @param component - The root component.
 * @param options - `load`, `status`, `head`, `document`, `notFound`, `headers`, `hydrate`.
 * @example
 * const productPage = vuePage(ProductPage, {
 *   load: ({ params, backend }) => backend('api').json(`/products/${params.productId}`),
 * });
 */
export const vuePage = pageFunction<Component>('vuePage', (root, data, ctx) =>
  renderToString(createPageApp(root, data, ctx)),
);
