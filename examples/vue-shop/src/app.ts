/**
 * The Vue shop as a Flotilla app: a Router with
 *
 * - `/`: the listing, from `GET /products` of backend `api`, cached at the
 *   edge for 60 s (stale for 5 more minutes while it revalidates);
 * - `/p/:id`: a product, from `GET /products/:id` (the API's 404 becomes the
 *   shop's 404 page), cached at the edge for 5 minutes under a key that keeps
 *   only the `variant` query parameter (`?ref=…` shares the entry);
 * - `POST`, `PUT`, `PATCH`, `DELETE` anywhere: 405 (the shop only reads);
 * - everything else: the 404 page.
 *
 * The stylesheet (`public/styles.css`) is a static asset the shield serves;
 * pages link it through `assetUrl('/styles.css')`. Links respect
 * `x-forwarded-prefix`.
 *
 * Besides the Router (default export), the module exports the render
 * functions of `render.ts` (for benchmarks).
 *
 * @module
 */

import {
  type ListingData,
  loadListing,
  loadNotFound,
  loadProduct,
  type NotFoundData,
  type ProductData,
} from '@flotilla/example-products-api/shop-client';
import { type CacheOptions, CustomCacheKey, Router } from '@flotilla/sdk';
import { useLoaderData, vuePage } from '@flotilla/sdk/vue';
import { defineComponent, h } from 'vue';
import { ListingView, NotFoundView, ProductView } from './components.ts';

export type {
  ListingData,
  NotFoundData,
  Product,
  ProductData,
  Variant,
} from '@flotilla/example-products-api/shop-client';
export { VARIANTS } from '@flotilla/example-products-api/shop-client';
export {
  type RenderedPage,
  renderListing,
  renderNotFound,
  renderPage,
  renderProduct,
  renderRoute,
} from './render.ts';

const ListingPage = defineComponent({
  name: 'ListingPage',
  setup() {
    const data = useLoaderData<ListingData>();
    return () => h(ListingView, data);
  },
});

const ProductPage = defineComponent({
  name: 'ProductPage',
  setup() {
    const data = useLoaderData<ProductData>();
    return () => h(ProductView, data);
  },
});

const NotFoundPage = defineComponent({
  name: 'NotFoundPage',
  setup() {
    const data = useLoaderData<NotFoundData>();
    return () => h(NotFoundView, data);
  },
});

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

const listingPage = vuePage<ListingData>(ListingPage, { load: loadListing });
const productPage = vuePage<ProductData>(ProductPage, {
  load: loadProduct,
  notFound: NotFoundPage,
});
const notFoundPage = vuePage<NotFoundData>(NotFoundPage, { load: loadNotFound, status: 404 });

/** The app. */
export default new Router()
  .get('/', ({ cache, render }) => {
    cache(LISTING_CACHE);
    render(listingPage);
  })
  .get('/p/:id', ({ cache, render }) => {
    cache({
      ...PRODUCT_CACHE,
      key: new CustomCacheKey().excludeAllQueryParametersExcept('variant'),
    });
    render(productPage);
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
    render(notFoundPage);
  });
