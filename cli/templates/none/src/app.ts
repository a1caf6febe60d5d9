/**
 * A Flotilla app without a UI framework. The default export is a
 * Router whose pages are plain `Response`s; the fleet runs it in an isolate,
 * and `flotilla build` writes each route's cache options into manifest.json,
 * so the shield caches pages before any code runs.
 *
 *   npx flotilla dev     serve it locally, rebuilding on every change
 *   npx flotilla build   bundle it into .flotilla/build
 */
import { assetUrl, type RenderContext, Router } from '@flotilla/sdk';

/** The app's name (the `name` of flotilla.config.json). */
const APP = '{{name}}';

/** `/<app>` when the shield serves the app under a path prefix, `''` on its own host. */
function prefixOf(ctx: RenderContext): string {
  const prefix = ctx.request.headers.get('x-forwarded-prefix') ?? '';
  return /^(\/[\w.~-]+)+$/.test(prefix) ? prefix : '';
}

/** An HTML page around `body` (trusted markup), linking the stylesheet. */
function page(ctx: RenderContext, title: string, body: string, status = 200): Response {
  const stylesheet = `${prefixOf(ctx)}${assetUrl('/styles.css')}`;
  const html = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${title}</title>
    <link rel="stylesheet" href="${stylesheet}">
  </head>
  <body>
    <main>${body}</main>
  </body>
</html>
`;
  return new Response(html, { status, headers: { 'content-type': 'text/html; charset=utf-8' } });
}

export default new Router()
  .get('/', ({ cache, render }) => {
    // Fresh at the edge for 60 s, then served stale for up to 5 minutes while it re-renders.
    cache({
      edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 300 },
      browser: { maxAgeSeconds: 0 },
    });
    render((ctx) =>
      page(
        ctx,
        APP,
        `<h1>Hello from ${APP}</h1><p>Rendered in an isolate and cached by the shield for a minute. ` +
          'Edit <code>src/app.ts</code> to make it yours.</p>',
      ),
    );
  })
  .fallback(({ cache, render }) => {
    cache({ edge: { maxAgeSeconds: 30 } });
    render((ctx) =>
      page(
        ctx,
        'Not found',
        `<h1>Not found</h1><p><a href="${prefixOf(ctx)}/">Back to the home page</a></p>`,
        404,
      ),
    );
  });
