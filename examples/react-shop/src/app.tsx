/**
 * The React shop as a Flotilla app: a fetch handler rendering `/` (a listing
 * of 120 products) and `/p/:id` (one product) with React's server renderer.
 *
 * @module
 */
import { parseRequestUrl } from '@flotilla/sdk/request-url';
import type { ReactElement } from 'react';
// The edge build: the browser build (what `react-dom/server` resolves to for
// platform browser) runs `new MessageChannel()` at load, which the isolate lacks.
import { renderToString } from 'react-dom/server.edge';
import { Layout, NotFound, ProductDetail, ProductGrid } from './components.tsx';
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
export function renderRoute(path: string, prefix = ''): RenderedPage {
  const safePrefix = normalisePrefix(prefix);
  if (path === '/') {
    return page(
      200,
      <Layout title="React Shop" prefix={safePrefix}>
        <ProductGrid products={PRODUCTS} prefix={safePrefix} />
      </Layout>,
    );
  }
  const match = PRODUCT_PATH.exec(path);
  const product = match?.[1] === undefined ? undefined : findProduct(Number(match[1]));
  if (product) {
    return page(
      200,
      <Layout title={`${product.name} | React Shop`} prefix={safePrefix}>
        <ProductDetail product={product} prefix={safePrefix} />
      </Layout>,
    );
  }
  return page(
    404,
    <Layout title="Not found | React Shop" prefix={safePrefix}>
      <NotFound path={path} prefix={safePrefix} />
    </Layout>,
  );
}

/**
 * Renders the page for `path` to a complete HTML document, synchronously
 * (for benchmarks). Unknown paths render the 404 page.
 *
 * @param path - Request pathname, e.g. `/` or `/p/7`.
 * @param prefix - Path prefix for links, `''` for none.
 */
export function renderPage(path: string, prefix = ''): string {
  return renderRoute(path, prefix).html;
}

function page(status: number, element: ReactElement): RenderedPage {
  return { status, html: `<!doctype html>${renderToString(element)}` };
}

/**
 * Accepts a prefix only if it is a plain absolute path (`/react-shop`);
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
  fetch(request: Request): Response {
    const method = request.method.toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') {
      return new Response('Method Not Allowed', {
        status: 405,
        headers: { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    const { pathname } = parseRequestUrl(request.url);
    const { status, html } = renderRoute(pathname, request.headers.get('x-forwarded-prefix') ?? '');
    return new Response(method === 'HEAD' ? null : html, { status, headers: HTML_HEADERS });
  },
};
