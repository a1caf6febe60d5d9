/**
 * `@flotilla/sdk/vue` in the build's browser code: the same exports as the
 * server module, but `vuePage` mounts the page over the server's markup
 * (`createSSRApp(…).mount`) instead of rendering it.
 *
 * @module
 */
import type { Component } from 'vue';
import type { DocumentParts } from '../router/page.ts';
import type { RenderContext, RenderFn } from '../router/types.ts';
import type { VuePageOptions } from '../vue.ts';
import { createPageApp } from '../vue-context.ts';
import { clientPage } from './page.ts';

export { isNotFound, NotFoundError, notFound } from '../router/errors.ts';
export { useLoaderData, useRenderContext } from '../vue-context.ts';
export type { DocumentParts, RenderContext, RenderFn, VuePageOptions };

/**
 * The browser's `vuePage`: mounts `component` with the data the server
 * sent over its markup, the whole document or `<body>`.
 */
export const vuePage = clientPage<Component>('vuePage', async (root, data, ctx, at) => {
  const app = createPageApp(root, data, ctx);
  if (at === 'body') {
    app.mount(document.body);
    return;
  }
  // Vue hydrates a container's first child: for the whole document that
  // must be <html>, so the doctype steps aside while the app mounts.
  const doctype = document.doctype;
  doctype?.remove();
  try {
    app.mount(document as unknown as Element);
  } finally {
    if (doctype) document.insertBefore(doctype, document.documentElement);
  }
});
