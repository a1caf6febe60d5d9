/**
 * A Flotilla app. The default export is a Router; the fleet runs it
 * in an isolate, and `flotilla build` writes each route's cache options into
 * manifest.json, so the shield caches pages before any code runs.
 *
 *   npx flotilla dev     serve it locally, rebuilding on every change
 *   npx flotilla build   bundle it into .flotilla/build
 */
import { assetUrl, type RenderContext, Router } from '@flotilla/sdk';
import { reactPage, useLoaderData } from '@flotilla/sdk/react';
import type { ReactNode } from 'react';

/** The app's name (the `name` of flotilla.config.json). */
const APP = '{{name}}';

/** What every page's loader returns. */
interface PageData {
  /** `/<app>` when the shield serves the app under a path prefix, `''` on its own host. */
  prefix: string;
}

/** Runs before each page renders; its value reaches components through `useLoaderData()`. */
function loadPage(ctx: RenderContext): PageData {
  const prefix = ctx.request.headers.get('x-forwarded-prefix') ?? '';
  return { prefix: /^(\/[\w.~-]+)+$/.test(prefix) ? prefix : '' };
}

function Layout({ title, children }: { title: string; children: ReactNode }) {
  const { prefix } = useLoaderData<PageData>();
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
        <link rel="stylesheet" href={`${prefix}${assetUrl('/styles.css')}`} />
      </head>
      <body>
        <main>{children}</main>
      </body>
    </html>
  );
}

function Home() {
  return (
    <Layout title={APP}>
      <h1>{`Hello from ${APP}`}</h1>
      <p>
        Rendered with React in an isolate and cached by the shield for a minute. Edit{' '}
        <code>src/app.tsx</code> to make it yours.
      </p>
    </Layout>
  );
}

function NotFound() {
  const { prefix } = useLoaderData<PageData>();
  return (
    <Layout title="Not found">
      <h1>Not found</h1>
      <p>
        <a href={`${prefix}/`}>Back to the home page</a>
      </p>
    </Layout>
  );
}

const homePage = reactPage<PageData>(Home, { load: loadPage });
const notFoundPage = reactPage<PageData>(NotFound, { load: loadPage, status: 404 });

export default new Router()
  .get('/', ({ cache, render }) => {
    // Fresh at the edge for 60 s, then served stale for up to 5 minutes while it re-renders.
    cache({
      edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 300 },
      browser: { maxAgeSeconds: 0 },
    });
    render(homePage);
  })
  .fallback(({ cache, render }) => {
    cache({ edge: { maxAgeSeconds: 30 } });
    render(notFoundPage);
  });
