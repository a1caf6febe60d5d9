/**
 * The shop's Vue components, written as `defineComponent` + `h()` render
 * functions (no templates, so no runtime compiler in the bundle), nested like
 * the React shop: Layout > Header > Nav / CartCounter, ProductGrid (with its
 * filter) > ProductCard > Price / Rating / TagList / AddToCart,
 * ProductDetail > VariantList, NotFound, Footer; and the three whole pages
 * (ListingView, ProductView, NotFoundView). They take everything as props:
 * the Router's pages (`app.ts`) feed them loader data, the render functions
 * (`render.ts`) feed them data directly.
 *
 * The cart counter, "Add to cart" and the filter work once the page is
 * hydrated. Their first render is the server's (an empty filter, a cart
 * counter of 0), so hydration matches; once mounted, the counter shows the
 * stored cart.
 *
 * Every link is prefixed with `prefix` (the `x-forwarded-prefix` the app was
 * served under, or `''`).
 *
 * @module
 */

import { shopCart } from '@flotilla/example-products-api/shop-cart';
import {
  assetHref,
  filterProducts,
  formatPrice,
  type Product,
  VARIANTS,
  type Variant,
} from '@flotilla/example-products-api/shop-client';
import { defineComponent, h, onMounted, onUnmounted, type PropType, ref } from 'vue';

const prefixProp = { type: String, required: true } as const;
const productProp = { type: Object as PropType<Product>, required: true } as const;

const cart = shopCart('vue-shop');

/** The number of products in the cart (0 on the server and while hydrating). */
const CartCounter = defineComponent({
  name: 'CartCounter',
  setup() {
    const count = ref(0);
    let stop: (() => void) | undefined;
    onMounted(() => {
      const update = () => {
        count.value = cart.count();
      };
      update();
      stop = cart.subscribe(update);
    });
    onUnmounted(() => stop?.());
    return () =>
      h('p', { class: 'cart', 'aria-live': 'polite' }, [
        'Cart: ',
        h('span', { class: 'cart-count' }, String(count.value)),
      ]);
  },
});

const AddToCart = defineComponent({
  name: 'AddToCart',
  props: { product: productProp },
  setup(props) {
    return () =>
      h(
        'button',
        { type: 'button', class: 'add-to-cart', onClick: () => cart.add(props.product.id) },
        'Add to cart',
      );
  },
});

const Nav = defineComponent({
  name: 'ShopNav',
  props: { prefix: prefixProp },
  setup(props) {
    return () =>
      h('nav', { 'aria-label': 'main' }, [
        h('ul', [
          h('li', [h('a', { href: `${props.prefix}/` }, 'All products')]),
          h('li', [h('a', { href: `${props.prefix}/p/1` }, 'Featured')]),
        ]),
      ]);
  },
});

const Header = defineComponent({
  name: 'ShopHeader',
  props: { prefix: prefixProp },
  setup(props) {
    return () =>
      h('header', [
        h('h1', [h('a', { href: `${props.prefix}/` }, 'Vue Shop')]),
        h(Nav, { prefix: props.prefix }),
        h(CartCounter),
      ]);
  },
});

const Footer = defineComponent({
  name: 'ShopFooter',
  setup() {
    return () => h('footer', [h('p', 'Rendered with Vue on Flotilla.')]);
  },
});

/** The whole document: `<html>` with head and the page chrome around the default slot. */
export const Layout = defineComponent({
  name: 'ShopLayout',
  props: { title: { type: String, required: true }, prefix: prefixProp },
  setup(props, { slots }) {
    return () =>
      h('html', { lang: 'en' }, [
        h('head', [
          h('meta', { charset: 'utf-8' }),
          h('meta', { name: 'viewport', content: 'width=device-width, initial-scale=1' }),
          h('title', props.title),
          h('link', { rel: 'stylesheet', href: assetHref(props.prefix, '/styles.css') }),
          h('link', {
            rel: 'icon',
            type: 'image/svg+xml',
            href: assetHref(props.prefix, '/favicon.svg'),
          }),
        ]),
        h('body', { class: 'vue-shop' }, [
          h(Header, { prefix: props.prefix }),
          h('main', slots.default?.()),
          h(Footer),
        ]),
      ]);
  },
});

const Price = defineComponent({
  name: 'ProductPrice',
  props: { cents: { type: Number, required: true } },
  setup(props) {
    return () => h('p', { class: 'price' }, formatPrice(props.cents));
  },
});

const Rating = defineComponent({
  name: 'ProductRating',
  props: { rating: { type: Number, required: true }, reviews: { type: Number, required: true } },
  setup(props) {
    return () => {
      const full = Math.round(props.rating);
      return h('p', { class: 'rating', title: `${props.rating} out of 5` }, [
        h('span', { 'aria-hidden': 'true' }, '★'.repeat(full) + '☆'.repeat(5 - full)),
        ' ',
        h('span', `${props.rating.toFixed(1)} (${props.reviews} reviews)`),
      ]);
    };
  },
});

const TagList = defineComponent({
  name: 'TagList',
  props: { tags: { type: Array as PropType<readonly string[]>, required: true } },
  setup(props) {
    return () =>
      h(
        'ul',
        { class: 'tags' },
        props.tags.map((tag) => h('li', { key: tag, class: 'tag' }, tag)),
      );
  },
});

const ProductCard = defineComponent({
  name: 'ProductCard',
  props: { product: productProp, prefix: prefixProp },
  setup(props) {
    return () => {
      const p = props.product;
      return h('li', { class: 'product-card', 'data-id': p.id }, [
        h('h3', [h('a', { href: `${props.prefix}/p/${p.id}` }, p.name)]),
        h('p', { class: 'category' }, p.category),
        h(Price, { cents: p.priceCents }),
        h(Rating, { rating: p.rating, reviews: p.reviewCount }),
        h(TagList, { tags: p.tags }),
        h(AddToCart, { product: p }),
      ]);
    };
  },
});

/** The listing: a filter, and one card per product that matches it. */
export const ProductGrid = defineComponent({
  name: 'ProductGrid',
  props: {
    products: { type: Array as PropType<readonly Product[]>, required: true },
    prefix: prefixProp,
  },
  setup(props) {
    const query = ref('');
    return () =>
      h('section', [
        h('h2', `All products (${props.products.length})`),
        h('input', {
          type: 'search',
          class: 'product-filter',
          'aria-label': 'Filter products',
          placeholder: 'Filter by name, category or tag',
          value: query.value,
          onInput: (event: Event) => {
            query.value = (event.target as HTMLInputElement).value;
          },
        }),
        h(
          'ul',
          { class: 'product-grid' },
          filterProducts(props.products, query.value).map((product) =>
            h(ProductCard, { key: product.id, product, prefix: props.prefix }),
          ),
        ),
      ]);
  },
});

const variantProp = { type: String as PropType<Variant>, required: true } as const;

/** The variants of a product, the selected one marked. */
const VariantList = defineComponent({
  name: 'VariantList',
  props: { product: productProp, variant: variantProp, prefix: prefixProp },
  setup(props) {
    return () =>
      h(
        'ul',
        { class: 'variants', 'aria-label': 'Variants' },
        VARIANTS.map((variant) =>
          h('li', { key: variant }, [
            h(
              'a',
              {
                href: `${props.prefix}/p/${props.product.id}?variant=${variant}`,
                'aria-current': variant === props.variant ? 'true' : undefined,
              },
              variant,
            ),
          ]),
        ),
      );
  },
});

/** One product's page. */
export const ProductDetail = defineComponent({
  name: 'ProductDetail',
  props: { product: productProp, variant: variantProp, prefix: prefixProp },
  setup(props) {
    return () => {
      const p = props.product;
      return h('article', { class: 'product-detail', 'data-id': p.id }, [
        h('h2', p.name),
        h('p', { class: 'category' }, p.category),
        h(Price, { cents: p.priceCents }),
        h(Rating, { rating: p.rating, reviews: p.reviewCount }),
        h('p', { class: 'description' }, p.description),
        h(VariantList, { product: p, variant: props.variant, prefix: props.prefix }),
        h(AddToCart, { product: p }),
        h(TagList, { tags: p.tags }),
        h('p', [h('a', { href: `${props.prefix}/` }, 'Back to all products')]),
      ]);
    };
  },
});

/** The 404 page body. */
export const NotFound = defineComponent({
  name: 'NotFound',
  props: { path: { type: String, required: true }, prefix: prefixProp },
  setup(props) {
    return () =>
      h('section', { class: 'not-found' }, [
        h('h2', 'Page not found'),
        h('p', ['Nothing lives at ', h('code', props.path), '.']),
        h('p', [h('a', { href: `${props.prefix}/` }, 'Back to all products')]),
      ]);
  },
});

/** The listing page: the whole document. */
export const ListingView = defineComponent({
  name: 'ListingView',
  props: {
    products: { type: Array as PropType<readonly Product[]>, required: true },
    prefix: prefixProp,
  },
  setup(props) {
    return () =>
      h(
        Layout,
        { title: 'Vue Shop', prefix: props.prefix },
        { default: () => h(ProductGrid, { products: props.products, prefix: props.prefix }) },
      );
  },
});

/** A product page: the whole document. */
export const ProductView = defineComponent({
  name: 'ProductView',
  props: { product: productProp, variant: variantProp, prefix: prefixProp },
  setup(props) {
    return () =>
      h(
        Layout,
        { title: `${props.product.name} | Vue Shop`, prefix: props.prefix },
        {
          default: () =>
            h(ProductDetail, {
              product: props.product,
              variant: props.variant,
              prefix: props.prefix,
            }),
        },
      );
  },
});

/** The not-found page: the whole document. */
export const NotFoundView = defineComponent({
  name: 'NotFoundView',
  props: { path: { type: String, required: true }, prefix: prefixProp },
  setup(props) {
    return () =>
      h(
        Layout,
        { title: 'Not found | Vue Shop', prefix: props.prefix },
        { default: () => h(NotFound, { path: props.path, prefix: props.prefix }) },
      );
  },
});
