/**
 * The Vue shop as a Flotilla app: the shops' Router (`shopRouter` of
 * `@flotilla/example-products-api/shop-routes`: the listing at `/`, a
 * product at `/p/:id`, 405 to writes, a 404 page, each with its cache
 * options) over three Vue pages. Each page loads its data from the
 * products API (backend `api`), renders in the isolate, and hydrates in
 * the browser: the header's cart counter, "Add to cart" and the listing's
 * filter work once it has.
 *
 * The stylesheet is a static asset the shield serves; pages link it through
 * `assetUrl('/styles.css')`. Links respect `x-forwarded-prefix`.
 *
 * Besides the Router (default export), the module exports the render
 * functions of `render.ts` (for benchmarks).
 *
 * @module
 */

import * as shop from '@flotilla/example-products-api/shop-client';
import { shopRouter } from '@flotilla/example-products-api/shop-routes';
import { useLoaderData, vuePage } from '@flotilla/sdk/vue';
import { type Component, defineComponent, h } from 'vue';
import { ListingView, NotFoundView, ProductView } from './components.ts';

export * from './render.ts';

/** A page component: `view` with the loader data as props. */
function pageOf(name: string, view: Component) {
  return defineComponent({
    name,
    setup() {
      const data = useLoaderData<Record<string, unknown>>();
      return () => h(view, data);
    },
  });
}

const NotFoundPage = pageOf('NotFoundPage', NotFoundView);

/** The app. */
export default shopRouter({
  listing: vuePage<shop.ListingData>(pageOf('ListingPage', ListingView), {
    load: shop.loadListing,
  }),
  product: vuePage<shop.ProductData>(pageOf('ProductPage', ProductView), {
    load: shop.loadProduct,
    notFound: NotFoundPage,
  }),
  notFound: vuePage<shop.NotFoundData>(NotFoundPage, { load: shop.loadNotFound, status: 404 }),
});
