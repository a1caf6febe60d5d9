/**
 * `@flotilla/sdk/react` in the build's browser code: the same exports as
 * the server module, but `reactPage` hydrates the server's markup
 * (`hydrateRoot`) instead of rendering it.
 *
 * @module
 */
import type { ComponentType } from 'react';
import { hydrateRoot } from 'react-dom/client';
import type { ReactPageOptions } from '../react.ts';
import { pageElement } from '../react-context.ts';
import type { DocumentParts } from '../router/page.ts';
import type { RenderContext, RenderFn } from '../router/types.ts';
import { clientPage } from './page.ts';

export { useLoaderData, useRenderContext } from '../react-context.ts';
export { isNotFound, NotFoundError, notFound } from '../router/errors.ts';
export type { DocumentParts, ReactPageOptions, RenderContext, RenderFn };

/**
 * The browser's `reactPage`: hydrates `Component` with the data the server
 * sent, over the whole document or `<body>` as the server rendered it.
 */
export const reactPage = clientPage<ComponentType>(
  'reactPage',
  (C, data, ctx, root) =>
    new Promise<void>((resolve) => {
      hydrateRoot(
        root === 'document' ? document : document.body,
        pageElement(C, data, ctx, resolve),
      );
    }),
);
