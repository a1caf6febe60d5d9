/**
 * What the server's and the browser's `vuePage` share, so both create the
 * same app: the injections behind `useLoaderData()` and `useRenderContext()`.
 * Bundle-safe.
 *
 * @module
 */
import { type App, type Component, createSSRApp, type InjectionKey, inject } from 'vue';
import type { RenderContext } from './router/types.ts';

const LOADER_DATA: InjectionKey<{ value: unknown }> = Symbol('flotilla.loaderData');
const RENDER_CONTEXT: InjectionKey<RenderContext> = Symbol('flotilla.renderContext');

/**
 * A new SSR app of `root` providing the page's data and render context (the
 * same on the server, where it is rendered to a string, and in the browser,
 * where it is mounted over that markup).
 */
export function createPageApp(root: Component, data: unknown, ctx: RenderContext): App {
  const app = createSSRApp(root);
  app.provide(LOADER_DATA, { value: data });
  app.provide(RENDER_CONTEXT, ctx);
  return app;
}

/**
 * The value the page's `load` returned (the not-found data on a 404
 * page). Call it in `setup()` of a component rendered by `vuePage`; in the
 * browser it is the same value, sent with the page.
 *
 * @throws Error outside a page rendered by `vuePage`.
 */
export function useLoaderData<T>(): T {
  const box = inject(LOADER_DATA, null);
  if (!box) throw new Error('useLoaderData() works only in components rendered by vuePage()');
  return box.value as T;
}

/**
 * The render context of the page being rendered (in `setup()`). In the
 * browser it has the URL the server rendered and the params, `env` is `{}`
 * and `backend()` throws: variables and backends stay on the server.
 */
export function useRenderContext(): RenderContext {
  const ctx = inject(RENDER_CONTEXT, null);
  if (!ctx) throw new Error('useRenderContext() works only in components rendered by vuePage()');
  return ctx;
}
