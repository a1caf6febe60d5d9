/**
 * The shop's pages rendered from data, without the Router or a backend:
 * synchronous, pure functions of their inputs (the benchmarks' plain-Node
 * baseline, and tests). The Router (`app.tsx`) renders the same components
 * with data loaded from the products API, so for the same data both give
 * the same HTML (less the hydration scripts a build adds).
 *
 * @module
 */

import type { Product, Variant } from '@flotilla/example-products-api/shop-client';
import {
  type RenderedPage,
  type ShopRoute,
  shopRoute,
} from '@flotilla/example-products-api/shop-routes';
// The edge build, as `@flotilla/sdk/react` uses: the browser build creates a
// `MessageChannel` when it loads, which the isolate lacks.
import { renderToString } from 'react-dom/server.edge';
import { ListingView, NotFoundView, ProductView } from './components.tsx';

function documentOf(route: ShopRoute): string {
  const view =
    route.page === 'listing' ? (
      <ListingView {...route.data} />
    ) : route.page === 'product' ? (
      <ProductView {...route.data} />
    ) : (
      <NotFoundView {...route.data} />
    );
  return `<!doctype html>${renderToString(view)}`;
}

/**
 * The listing page of `products`.
 *
 * @param prefix - Link prefix (an `x-forwarded-prefix` value); not a plain path: none.
 */
export function renderListing(products: readonly Product[], prefix = ''): string {
  return documentOf(shopRoute('/', products, prefix));
}

/** The page of `product`, with `variant` selected. */
export function renderProduct(
  product: Product,
  prefix = '',
  variant: Variant = 'standard',
): string {
  return documentOf(shopRoute(`/p/${product.id}?variant=${variant}`, [product], prefix));
}

/** The not-found page for `path` (a path no product lives at). */
export function renderNotFound(path: string, prefix = ''): string {
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
export function renderRoute(path: string, products: readonly Product[], prefix = ''): RenderedPage {
  const route = shopRoute(path, products, prefix);
  return { status: route.status, html: documentOf(route) };
}

/**
 * {@link renderRoute}'s HTML alone, synchronously (for benchmarks).
 *
 * @example
 * import { PRODUCTS } from '@flotilla/example-products-api/products';
 * const html = renderPage('/', PRODUCTS, '/react-shop');
 */
export function renderPage(path: string, products: readonly Product[], prefix = ''): string {
  return renderRoute(path, products, prefix).html;
}
