/**
 * The Vue shop as a Flotilla app: a fetch handler rendering `/` (a listing
 * of 120 products) and `/p/:id` (one product) with Vue's server renderer.
 *
 * @module
 */
import { parseRequestUrl } from '@flotilla/sdk/request-url';
import { renderToString } from '@vue/server-renderer';
import { type Component, createSSRApp, h } from 'vue';
import { Layout, NotFound, ProductDetail, ProductGrid } from './components.ts';
import { findProduct, PRODUCTS } from './products.ts';

/** A rendered page: status and complete HTML document. */
export interface RenderedPage {
  status: number;
  html: string;
}

const PRODUCT_PATH = /^\/p\/([1-9][0-9]{0,8})$/;

/**
 * Renders the page for `path` (a pathname, no query) to a complete HTML
 * document, with its status: 200 for `/` and known products, 404 otherwise.
 *
 * @param path - Request pathname, e.g. `/p/7`.
 * @param prefix - Path prefix the app is served under (`x-forwarded-prefix`), `''` for none.
 */
export async function renderRoute(path: string, prefix = ''): Promise<RenderedPage> {
  const safePrefix = normalisePrefix(prefix);
  if (path === '/') {
    return page(200, 'Vue Shop', safePrefix, ProductGrid, {
      products: PRODUCTS,
      prefix: safePrefix,
    });
  }
  const match = PRODUCT_PATH.exec(path);
  const product = match?.[1] === undefined ? undefined : findProduct(Number(match[1]));
  if (product) {
    return page(200, `${product.name} | Vue Shop`, safePrefix, ProductDetail, {
      product,
      prefix: safePrefix,
    });
  }
  return page(404, 'Not found | Vue Shop', safePrefix, NotFound, { path, prefix: safePrefix });
}

/**
 * Renders the page for `path` to a complete HTML document (for benchmarks).
 * Vue's `renderToString` is asynchronous, so this returns a promise.
 * Unknown paths render the 404 page.
 *
 * @param path - Request pathname, e.g. `/` or `/p/7`.
 * @param prefix - Path prefix for links, `''` for none.
 */
export async function renderPage(path: string, prefix = ''): Promise<string> {
  return (await renderRoute(path, prefix)).html;
}

async function page(
  status: number,
  title: string,
  prefix: string,
  body: Component,
  bodyProps: Record<string, unknown>,
): Promise<RenderedPage> {
  const app = createSSRApp({
    render: () => h(Layout, { title, prefix }, { default: () => h(body, bodyProps) }),
  });
  return { status, html: `<!doctype html>${await renderToString(app)}` };
}

/**
 * Accepts a prefix only if it is a plain absolute path (`/vue-shop`);
 * anything else (a URL, `//host`, control characters) is ignored. The
 * trailing `/` is dropped.
 */
function normalisePrefix(prefix: string): string {
  if (!/^(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)+\/?$/.test(prefix)) return '';
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

const HTML_HEADERS = { 'content-type': 'text/html; charset=utf-8' };

/** The app's fetch handler. */
export default {
  async fetch(request: Request): Promise<Response> {
    const method = request.method.toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') {
      return new Response('Method Not Allowed', {
        status: 405,
        headers: { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    const { pathname } = parseRequestUrl(request.url);
    const { status, html } = await renderRoute(
      pathname,
      request.headers.get('x-forwarded-prefix') ?? '',
    );
    return new Response(method === 'HEAD' ? null : html, { status, headers: HTML_HEADERS });
  },
};
