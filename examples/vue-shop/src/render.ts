/**
 * The shop's pages rendered from data, without the Router or a backend:
 * pure functions of their inputs (the benchmarks' plain-Node baseline, and
 * tests). Vue's `renderToString` is asynchronous, so they return promises.
 * The Router (`app.ts`) renders the same components with data loaded from
 * the products API, so for the same data both give the same HTML (less the
 * hydration scripts a build adds).
 *
 * @module
 */

import type { Product, Variant } from '@flotilla/example-products-api/shop-client';
import {
  type RenderedPage,
  type ShopRoute,
  shopRoute,
} from '@flotilla/example-products-api/shop-routes';
import { renderToString } from '@vue/server-renderer';
import { type Component, createSSRApp, h } from 'vue';
import { ListingView, NotFoundView, ProductView } from './components.ts';

const VIEWS: Record<ShopRoute['page'], Component> = {
  listing: ListingView,
  product: ProductView,
  notFound: NotFoundView,
};

async function documentOf(route: ShopRoute): Promise<string> {
  const app = createSSRApp({ render: () => h(VIEWS[route.page], { ...route.data }) });
  return `<!doctype html>${await renderToString(app)}`;
}

/**
 * The listing page of `products`.
 *
 * @param prefix - Link prefix (an `x-forwarded-prefix` value); not a plain path: none.
 */
export function renderListing(products: readonly Product[], prefix = ''): Promise<string> {
  return documentOf(shopRoute('/', products, prefix));
}

/** The page of `product`, with `variant` selected. */
export function renderProduct(
  product: Product,
  prefix = '',
  variant: Variant = 'standard',
): Promise<string> {
  return documentOf(shopRoute(`/p/${product.id}?variant=${variant}`, [product], prefix));
}

/** The not-found page for `path` (a path no product lives at). */
export function renderNotFound(path: string, prefix = ''): Promise<string> {
  return documentOf(shopRoute(path, [], prefix));
}

/**
 * Renders the page the app answers `path` with, given the catalogue (see
 * `shopRoute`): 200 for `/` and `/p/<id of one of products>`, 404 otherwise.
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
  const route = shopRoute(path, products, prefix);
  return { status: route.status, html: await documentOf(route) };
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
