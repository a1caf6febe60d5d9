/**
 * The shops' routes, the same for the React and the Vue shop: a Router with
 *
 * - `/`: the listing, from `GET /products` of backend `api`, cached at the
 *   edge for 60 s (stale for 5 more minutes while it revalidates);
 * - `/p/:id`: a product, from `GET /products/:id` (the API's 404 becomes the
 *   shop's 404 page), cached at the edge for 5 minutes under a key that keeps
 *   only the `variant` query parameter (`?ref=…` shares the entry);
 * - `POST`, `PUT`, `PATCH`, `DELETE` anywhere: 405 (the shops only read);
 * - everything else: the 404 page.
 *
 * Each shop hands {@link shopRouter} its three pages. {@link shopRoute} is
 * the same table as a pure function of a path and a catalogue, for the
 * shops' render functions (benchmarks, tests). Bundle-safe.
 *
 * @module
 */
import { type CacheOptions, CustomCacheKey, type RenderFn, Router } from '@flotilla/sdk';
import type { Product } from './products.ts';
import {
  type ListingData,
  type NotFoundData,
  normalizePrefix,
  type ProductData,
  variantOf,
} from './shop-client.ts';

/** Cache options of `/`. */
export const LISTING_CACHE: CacheOptions = {
  edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 300 },
  browser: { maxAgeSeconds: 0 },
};

/** Cache options of `/p/:id` (its key is built per route: see the module doc). */
export const PRODUCT_CACHE: CacheOptions = {
  edge: { maxAgeSeconds: 300, staleWhileRevalidateSeconds: 3600 },
  browser: { maxAgeSeconds: 0 },
};

/** Cache options of the 404 page. */
export const NOT_FOUND_CACHE: CacheOptions = { edge: { maxAgeSeconds: 30 } };

/** A shop's pages, as its framework's adapter makes them (`reactPage`, `vuePage`). */
export interface ShopPages {
  /** `/`, loading {@link ListingData}. */
  listing: RenderFn;
  /** `/p/:id`, loading {@link ProductData} (its not-found page for an unknown id). */
  product: RenderFn;
  /** Every other path, with status 404. */
  notFound: RenderFn;
}

/** The shop's Router over its `pages` (see the module doc). */
export function shopRouter(pages: ShopPages): Router {
  return new Router()
    .get('/', ({ cache, render }) => {
      cache(LISTING_CACHE);
      render(pages.listing);
    })
    .get('/p/:id', ({ cache, render }) => {
      cache({
        ...PRODUCT_CACHE,
        key: new CustomCacheKey().excludeAllQueryParametersExcept('variant'),
      });
      render(pages.product);
    })
    .match({ path: '/:path*', method: ['POST', 'PUT', 'PATCH', 'DELETE'] }, ({ cache, send }) => {
      cache({ edge: false });
      send('Method Not Allowed\n', 405, {
        allow: 'GET, HEAD',
        'content-type': 'text/plain; charset=utf-8',
      });
    })
    .fallback(({ cache, render }) => {
      cache(NOT_FOUND_CACHE);
      render(pages.notFound);
    });
}

/** Which page answers a path, with its status and data: what {@link shopRoute} gives. */
export type ShopRoute =
  | { status: 200; page: 'listing'; data: ListingData }
  | { status: 200; page: 'product'; data: ProductData }
  | { status: 404; page: 'notFound'; data: NotFoundData };

const PRODUCT_PATH = /^\/p\/([1-9][0-9]{0,8})\/?$/;

/**
 * The page the shop answers `path` with, given the catalogue, without a
 * Router or a backend: the listing for `/`, a product for `/p/<id of one
 * of products>` (a `?variant=` selects the variant), the not-found page
 * otherwise.
 *
 * @param path - Request path, optionally with a query: `/`, `/p/7?variant=large`.
 * @param prefix - Link prefix (an `x-forwarded-prefix` value); not a plain path: none.
 */
export function shopRoute(path: string, products: readonly Product[], prefix = ''): ShopRoute {
  const url = new URL(path, 'http://shop.invalid');
  const links = normalizePrefix(prefix);
  if (url.pathname === '/') {
    return { status: 200, page: 'listing', data: { prefix: links, products: [...products] } };
  }
  const id = PRODUCT_PATH.exec(url.pathname)?.[1];
  const product = id === undefined ? undefined : products.find((p) => p.id === Number(id));
  if (product) {
    const data = { prefix: links, product, variant: variantOf(url.searchParams) };
    return { status: 200, page: 'product', data };
  }
  return { status: 404, page: 'notFound', data: { prefix: links, path: url.pathname } };
}

/** A page rendered from data: status and complete HTML document. */
export interface RenderedPage {
  status: number;
  html: string;
}
