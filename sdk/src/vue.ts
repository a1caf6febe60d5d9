/**
 * `@flotilla/sdk/vue`: Vue pages for the Router, rendered with
 * `renderToString` from `@vue/server-renderer`.
 *
 * @module
 */
import { renderToString } from '@vue/server-renderer';
import { type Component, createSSRApp, type InjectionKey, inject } from 'vue';
import { isNotFound, NotFoundError, notFound } from './router/errors.ts';
import { type DocumentParts, type PageOptions, pageRenderFn } from './router/page.ts';
import type { RenderContext, RenderFn } from './router/types.ts';

export type { DocumentParts, RenderContext, RenderFn };
export { isNotFound, NotFoundError, notFound };

/** Options of {@link vuePage}. */
export type VuePageOptions<T> = PageOptions<T, Component>;

const LOADER_DATA: InjectionKey<{ value: unknown }> = Symbol('flotilla.loaderData');
const RENDER_CONTEXT: InjectionKey<RenderContext> = Symbol('flotilla.renderContext');

/**
 * Makes a render function that renders `component` (as the root of a new
 * SSR app per request) to an HTML document. `load` runs first; its value
 * reaches components through {@link useLoaderData}.
 *
 * @param component - The root component.
 * @param options - `load`, `status`, `head`, `document`, `notFound`, `headers`.
 * @example
 * const productPage = vuePage(ProductPage, {
 *   load: ({ params, backend }) => backend('api').json(`/products/${params.productId}`),
 * });
 */
export function vuePage<T = unknown>(
  component: Component,
  options: VuePageOptions<T> = {},
): RenderFn {
  if (typeof component !== 'function' && (typeof component !== 'object' || component === null)) {
    throw new TypeError('vuePage: needs a component');
  }
  return pageRenderFn<T, Component>('vuePage', component, options, (root, data, ctx) => {
    const app = createSSRApp(root);
    app.provide(LOADER_DATA, { value: data });
    app.provide(RENDER_CONTEXT, ctx);
    return renderToString(app);
  });
}

/**
 * The value the page's `load` returned (the not-found data on a 404
 * page). Call it in `setup()` of a component rendered by {@link vuePage}.
 *
 * @throws Error outside a page rendered by `vuePage`.
 */
export function useLoaderData<T>(): T {
  const box = inject(LOADER_DATA, null);
  if (!box) throw new Error('useLoaderData() works only in components rendered by vuePage()');
  return box.value as T;
}

/** The render context of the page being rendered (in `setup()`). */
export function useRenderContext(): RenderContext {
  const ctx = inject(RENDER_CONTEXT, null);
  if (!ctx) throw new Error('useRenderContext() works only in components rendered by vuePage()');
  return ctx;
}
