/**
 * The shop's Vue components, written as `defineComponent` + `h()` render
 * functions (no templates, so no runtime compiler in the bundle), nested like
 * the React shop: Layout > Header > Nav, ProductGrid > ProductCard > Price /
 * Rating / TagList, ProductDetail, NotFound, Footer.
 *
 * Every link is prefixed with `prefix` (the `x-forwarded-prefix` the app was
 * served under, or `''`).
 *
 * @module
 */
import { defineComponent, h, type PropType } from 'vue';
import { formatPrice, type Product } from './products.ts';

const STYLES = `
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#35495e;color:#42b883;padding:1rem 2rem}
header a{color:inherit;text-decoration:none}
nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}
nav a{color:#fff}
main{padding:1rem 2rem}
.product-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem;list-style:none;padding:0}
.product-card{background:#fff;border:1px solid #ddd;border-radius:.5rem;padding:1rem}
.tags{display:flex;gap:.25rem;list-style:none;padding:0;flex-wrap:wrap}
.tag{background:#efe;border-radius:.25rem;padding:0 .25rem;font-size:.8rem}
footer{padding:1rem 2rem;color:#666}
`;

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
          h('style', { innerHTML: STYLES }),
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

/** One product's page. */
export const ProductDetail = defineComponent({
  name: 'ProductDetail',
  props: { product: productProp, prefix: prefixProp },
  setup(props) {
    return () => {
      const p = props.product;
      return h('article', { class: 'product-detail', 'data-id': p.id }, [
        h('h2', p.name),
        h('p', { class: 'category' }, p.category),
        h(Price, { cents: p.priceCents }),
        h(Rating, { rating: p.rating, reviews: p.reviewCount }),
        h('p', { class: 'description' }, p.description),
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
