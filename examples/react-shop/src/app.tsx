/**
 * The React shop as a Flotilla app: the shops' Router (`shopRouter` of
 * `@flotilla/example-products-api/shop-routes`: the listing at `/`, a
 * product at `/p/:id`, 405 to writes, a 404 page, each with its cache
 * options) over three React pages. Each page loads its data from the
 * products API (backend `api`), renders in the isolate, and hydrates in
 * the browser: the header's cart counter, "Add to cart" and the listing's
 * filter work once it has.
 *
 * The stylesheet is a static asset the shield serves; pages link it through
 * `assetUrl('/styles.css')`. Links respect `x-forwarded-prefix`.
 *
 * Besides the Router (default export), the module exports the pure render
 * functions of `render.tsx` (for benchmarks).
 *
 * @module
 */

import * as shop from '@flotilla/example-products-api/shop-client';
import { shopRouter } from '@flotilla/example-products-api/shop-routes';
import { reactPage, useLoaderData } from '@flotilla/sdk/react';
import { ListingView, NotFoundView, ProductView } from './components.tsx';

export * from './render.tsx';

function ListingPage() {
  return <ListingView {...useLoaderData<shop.ListingData>()} />;
}

function ProductPage() {
  return <ProductView {...useLoaderData<shop.ProductData>()} />;
}

function NotFoundPage() {
  return <NotFoundView {...useLoaderData<shop.NotFoundData>()} />;
}

/** The app. */
export default shopRouter({
  listing: reactPage<shop.ListingData>(ListingPage, { load: shop.loadListing }),
  product: reactPage<shop.ProductData>(ProductPage, {
    load: shop.loadProduct,
    notFound: NotFoundPage,
  }),
  notFound: reactPage<shop.NotFoundData>(NotFoundPage, { load: shop.loadNotFound, status: 404 }),
});
