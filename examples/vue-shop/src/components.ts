/**
 * The shop's Vue components, written as `defineComponent` + `h()` render
 * functions (no templates, so no runtime compiler in the bundle), nested like
 * the React shop: Layout > Header > Nav, ProductGrid > ProductCard > Price /
 * Rating / TagList, ProductDetail > VariantList, NotFound, Footer; and the
 * three whole pages (ListingView, ProductView, NotFoundView). They take
 * everything as props: the Router's pages (`app.ts`) feed them loader data,
 * the render functions (`render.ts`) feed them data directly.
 *
 * Every link is prefixed with `prefix` (the `x-forwarded-prefix` the app was
 * served under, or `''`).
 *
 * @module
 */

import {
  formatPrice,
  type Product,
  VARIANTS,
  type Variant,
} from '@flotilla/example-products-api/shop-client';
import { assetUrl } from '@flotilla/sdk';
import { defineComponent, h, type PropType } from 'vue';

/** Where the stylesheet is served: its content-hashed path in a build, `/styles.css` outside one. */
export function stylesheetHref(prefix: string): string {
  return `${prefix}${assetUrl('/styles.css')}`;
}

const prefixProp = { type: String, required: true } as const;
const productProp = { type: Object as PropType<Product>, required: true } as const;

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
          h('link', { rel: 'stylesheet', href: stylesheetHref(props.prefix) }),
        ]),
        h('body', [h(Header, { prefix: props.prefix }), h('main', slots.default?.()), h(Footer)]),
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
      ]);
    };
  },
});

/** The listing: one card per product. */
export const ProductGrid = defineComponent({
  name: 'ProductGrid',
  props: {
    products: { type: Array as PropType<readonly Product[]>, required: true },
    prefix: prefixProp,
  },
  setup(props) {
    return () =>
      h('section', [
        h('h2', `All products (${props.products.length})`),
        h(
          'ul',
          { class: 'product-grid' },
          props.products.map((product) =>
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
