/**
 * The shop's pages rendered from data, without the Router or a backend:
 * pure functions of their inputs (the benchmarks' plain-Node baseline, and
 * tests). Vue's `renderToString` is asynchronous, so they return promises.
 * The Router (`app.ts`) renders the same components with data loaded from
 * the products API, so for the same data both give the same HTML.
 *
 * @module
 */

import {
  normalisePrefix,
  type Product,
  type Variant,
  variantOf,
} from '@flotilla/example-products-api/shop-client';
import { renderToString } from '@vue/server-renderer';
import { type Component, createSSRApp, h } from 'vue';
import { ListingView, NotFoundView, ProductView } from './components.ts';

/** A rendered page: status and complete HTML document. */
export interface RenderedPage {
  status: number;
  html: string;
}

const PRODUCT_PATH = /^\/p\/([1-9][0-9]{0,8})\/?$/;

async function documentOf(view: Component, props: Record<string, unknown>): Promise<string> {
  const app = createSSRApp({ render: () => h(view, props) });
  return `<!doctype html>${await renderToString(app)}`;
}

/**
 * The listing page of `products`.
 *
 * @param prefix - Link prefix (an `x-forwarded-prefix` value); not a plain path: none.
 */
export function renderListing(products: readonly Product[], prefix = ''): Promise<string> {
  return documentOf(ListingView, { products, prefix: normalisePrefix(prefix) });
}

/** The page of `product`, with `variant` selected. */
export function renderProduct(
  product: Product,
  prefix = '',
  variant: Variant = 'standard',
): Promise<string> {
  return documentOf(ProductView, { product, variant, prefix: normalisePrefix(prefix) });
}

/** The not-found page for `path`. */
export function renderNotFound(path: string, prefix = ''): Promise<string> {
  return documentOf(NotFoundView, { path, prefix: normalisePrefix(prefix) });
}

/**
 * Renders the page the app answers `path` with, given the catalogue: 200
 * for `/` and `/p/<id of one of products>` (a `?variant=` selects the
 * variant), 404 otherwise.
 *
 * @param path - Request path, optionally with a query: `/`, `/p/7?variant=large`.
 * @param products - The catalogue (what `GET /products` of the API answers).
 * @param prefix - Link prefix (an `x-forwarded-prefix` value), `''` for none.
 */
export async function renderRoute(
  path: string,
  products: readonly Product[],
  prefix = '',
): Promise<RenderedPage> {
  const url = new URL(path, 'http://shop.invalid');
  if (url.pathname === '/') return { status: 200, html: await renderListing(products, prefix) };
  const id = PRODUCT_PATH.exec(url.pathname)?.[1];
  const product = id === undefined ? undefined : products.find((p) => p.id === Number(id));
  if (product) {
    return {
      status: 200,
      html: await renderProduct(product, prefix, variantOf(url.searchParams)),
    };
  }
  return { status: 404, html: await renderNotFound(url.pathname, prefix) };
}

/**
 * {@link renderRoute}'s HTML alone (for benchmarks). Vue renders
 * asynchronously, so this returns a promise.
 *
 * @example
 * import { PRODUCTS } from '@flotilla/example-products-api/products';
 * const html = await renderPage('/', PRODUCTS, '/vue-shop');
 */
export async function renderPage(
  path: string,
  products: readonly Product[],
  prefix = '',
): Promise<string> {
  return (await renderRoute(path, products, prefix)).html;
}
