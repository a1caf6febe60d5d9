/**
 * The shop's pages rendered from data, without the Router or a backend:
 * synchronous, pure functions of their inputs (the benchmarks' plain-Node
 * baseline, and tests). The Router (`app.tsx`) renders the same components
 * with data loaded from the products API, so for the same data both give
 * the same HTML.
 *
 * @module
 */

import {
  normalisePrefix,
  type Product,
  type Variant,
  variantOf,
} from '@flotilla/example-products-api/shop-client';
import type { ReactElement } from 'react';
// The edge build, as `@flotilla/sdk/react` uses: the browser build creates a
// `MessageChannel` when it loads, which the isolate lacks.
import { renderToString } from 'react-dom/server.edge';
import { ListingView, NotFoundView, ProductView } from './components.tsx';

/** A rendered page: status and complete HTML document. */
export interface RenderedPage {
  status: number;
  html: string;
}

const PRODUCT_PATH = /^\/p\/([1-9][0-9]{0,8})\/?$/;

function documentOf(element: ReactElement): string {
  return `<!doctype html>${renderToString(element)}`;
}

/**
 * The listing page of `products`.
 *
 * @param prefix - Link prefix (an `x-forwarded-prefix` value); not a plain path: none.
 */
export function renderListing(products: readonly Product[], prefix = ''): string {
  return documentOf(<ListingView products={[...products]} prefix={normalisePrefix(prefix)} />);
}

/** The page of `product`, with `variant` selected. */
export function renderProduct(
  product: Product,
  prefix = '',
  variant: Variant = 'standard',
): string {
  return documentOf(
    <ProductView product={product} variant={variant} prefix={normalisePrefix(prefix)} />,
  );
}

/** The not-found page for `path`. */
export function renderNotFound(path: string, prefix = ''): string {
  return documentOf(<NotFoundView path={path} prefix={normalisePrefix(prefix)} />);
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
export function renderRoute(path: string, products: readonly Product[], prefix = ''): RenderedPage {
  const url = new URL(path, 'http://shop.invalid');
  if (url.pathname === '/') return { status: 200, html: renderListing(products, prefix) };
  const id = PRODUCT_PATH.exec(url.pathname)?.[1];
  const product = id === undefined ? undefined : products.find((p) => p.id === Number(id));
  if (product) {
    return { status: 200, html: renderProduct(product, prefix, variantOf(url.searchParams)) };
  }
  return { status: 404, html: renderNotFound(url.pathname, prefix) };
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
