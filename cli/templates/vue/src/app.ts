/**
 * A Flotilla app. The default export is a Router; the fleet runs it
 * in an isolate, and `flotilla build` writes each route's cache options into
 * manifest.json, so the shield caches pages before any code runs.
 *
 *   npx flotilla dev     serve it locally, rebuilding on every change
 *   npx flotilla build   bundle it into .flotilla/build
 *
 * Components are render functions (`h()`): the build bundles plain
 * TypeScript, without a Vue template compiler.
 */
import { assetUrl, type RenderContext, Router } from '@flotilla/sdk';
import { useLoaderData, vuePage } from '@flotilla/sdk/vue';
import { defineComponent, h } from 'vue';

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

const Layout = defineComponent({
  name: 'AppLayout',
  props: { title: { type: String, required: true } },
  setup(props, { slots }) {
    const { prefix } = useLoaderData<PageData>();
    return () =>
      h('html', { lang: 'en' }, [
        h('head', [
          h('meta', { charset: 'utf-8' }),
          h('meta', { name: 'viewport', content: 'width=device-width, initial-scale=1' }),
          h('title', props.title),
          h('link', { rel: 'stylesheet', href: `${prefix}${assetUrl('/styles.css')}` }),
        ]),
        h('body', [h('main', slots.default?.())]),
      ]);
  },
});

const Home = defineComponent({
  name: 'HomePage',
  setup() {
    return () =>
      h(Layout, { title: APP }, () => [
        h('h1', `Hello from ${APP}`),
        h('p', [
          'Rendered with Vue in an isolate and cached by the shield for a minute. Edit ',
          h('code', 'src/app.ts'),
          ' to make it yours.',
        ]),
      ]);
  },
});

const NotFound = defineComponent({
  name: 'NotFoundPage',
  setup() {
    const { prefix } = useLoaderData<PageData>();
    return () =>
      h(Layout, { title: 'Not found' }, () => [
        h('h1', 'Not found'),
        h('p', [h('a', { href: `${prefix}/` }, 'Back to the home page')]),
      ]);
  },
});

const homePage = vuePage<PageData>(Home, { load: loadPage });
const notFoundPage = vuePage<PageData>(NotFound, { load: loadPage, status: 404 });

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
