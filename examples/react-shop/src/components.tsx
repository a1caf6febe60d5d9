/**
 * The shop's React components, nested the way a real storefront nests them:
 * Layout > Header > Nav / CartCounter, ProductGrid (with its filter) >
 * ProductCard > Price / Rating / TagList / AddToCart, ProductDetail >
 * VariantList, NotFound, Footer; and the three whole pages (ListingView,
 * ProductView, NotFoundView). They take everything as props: the Router's
 * pages (`app.tsx`) feed them loader data, the pure render functions
 * (`render.tsx`) feed them data directly.
 *
 * The cart counter, "Add to cart" and the filter work once the page is
 * hydrated. Their first render is the server's (an empty filter, a cart
 * counter of 0), so hydration matches; the counter then shows the stored
 * cart.
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
  type ListingData,
  type NotFoundData,
  type Product,
  type ProductData,
  VARIANTS,
  type Variant,
} from '@flotilla/example-products-api/shop-client';
import { type ReactNode, useState, useSyncExternalStore } from 'react';

const cart = shopCart('react-shop');

/** Props every page-level component takes. */
interface PrefixProps {
  prefix: string;
}

/** The whole document: `<html>` with head and the page chrome around `children`. */
export function Layout(props: { title: string; prefix: string; children: ReactNode }) {
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title}</title>
        <link rel="stylesheet" href={assetHref(props.prefix, '/styles.css')} />
        <link rel="icon" type="image/svg+xml" href={assetHref(props.prefix, '/favicon.svg')} />
      </head>
      <body className="react-shop">
        <Header prefix={props.prefix} />
        <main>{props.children}</main>
        <Footer />
      </body>
    </html>
  );
}

function Header({ prefix }: PrefixProps) {
  return (
    <header>
      <h1>
        <a href={`${prefix}/`}>React Shop</a>
      </h1>
      <Nav prefix={prefix} />
      <CartCounter />
    </header>
  );
}

/** The number of products in the cart (0 on the server and while hydrating). */
function CartCounter() {
  const count = useSyncExternalStore(cart.subscribe, cart.count, () => 0);
  return (
    <p className="cart" aria-live="polite">
      Cart: <span className="cart-count">{count}</span>
    </p>
  );
}

function AddToCart({ product }: { product: Product }) {
  return (
    <button type="button" className="add-to-cart" onClick={() => cart.add(product.id)}>
      Add to cart
    </button>
  );
}

function Nav({ prefix }: PrefixProps) {
  return (
    <nav aria-label="main">
      <ul>
        <li>
          <a href={`${prefix}/`}>All products</a>
        </li>
        <li>
          <a href={`${prefix}/p/1`}>Featured</a>
        </li>
      </ul>
    </nav>
  );
}

function Footer() {
  return (
    <footer>
      <p>Rendered with React on Flotilla.</p>
    </footer>
  );
}

/** The listing: a filter, and one card per product that matches it. */
export function ProductGrid(props: { products: readonly Product[]; prefix: string }) {
  const [query, setQuery] = useState('');
  const shown = filterProducts(props.products, query);
  return (
    <section>
      <h2>All products ({props.products.length})</h2>
      <input
        type="search"
        className="product-filter"
        aria-label="Filter products"
        placeholder="Filter by name, category or tag"
        value={query}
        onChange={(event) => setQuery(event.target.value)}
      />
      <ul className="product-grid">
        {shown.map((product) => (
          <ProductCard key={product.id} product={product} prefix={props.prefix} />
        ))}
      </ul>
    </section>
  );
}

function ProductCard({ product, prefix }: { product: Product; prefix: string }) {
  return (
    <li className="product-card" data-id={product.id}>
      <h3>
        <a href={`${prefix}/p/${product.id}`}>{product.name}</a>
      </h3>
      <p className="category">{product.category}</p>
      <Price cents={product.priceCents} />
      <Rating rating={product.rating} reviews={product.reviewCount} />
      <TagList tags={product.tags} />
      <AddToCart product={product} />
    </li>
  );
}

function Price({ cents }: { cents: number }) {
  return <p className="price">{formatPrice(cents)}</p>;
}

function Rating({ rating, reviews }: { rating: number; reviews: number }) {
  const full = Math.round(rating);
  return (
    <p className="rating" title={`${rating} out of 5`}>
      <span aria-hidden="true">{'★'.repeat(full) + '☆'.repeat(5 - full)}</span>{' '}
      <span>
        {rating.toFixed(1)} ({reviews} reviews)
      </span>
    </p>
  );
}

function TagList({ tags }: { tags: readonly string[] }) {
  return (
    <ul className="tags">
      {tags.map((tag) => (
        <li key={tag} className="tag">
          {tag}
        </li>
      ))}
    </ul>
  );
}

/** One product's page. */
export function ProductDetail(props: { product: Product; variant: Variant; prefix: string }) {
  const { product, prefix } = props;
  return (
    <article className="product-detail" data-id={product.id}>
      <h2>{product.name}</h2>
      <p className="category">{product.category}</p>
      <Price cents={product.priceCents} />
      <Rating rating={product.rating} reviews={product.reviewCount} />
      <p className="description">{product.description}</p>
      <VariantList product={product} variant={props.variant} prefix={prefix} />
      <AddToCart product={product} />
      <TagList tags={product.tags} />
      <p>
        <a href={`${prefix}/`}>Back to all products</a>
      </p>
    </article>
  );
}

/** The variants of a product, the selected one marked. */
function VariantList(props: { product: Product; variant: Variant; prefix: string }) {
  return (
    <ul className="variants" aria-label="Variants">
      {VARIANTS.map((variant) => (
        <li key={variant}>
          <a
            href={`${props.prefix}/p/${props.product.id}?variant=${variant}`}
            aria-current={variant === props.variant ? 'true' : undefined}
          >
            {variant}
          </a>
        </li>
      ))}
    </ul>
  );
}

/** The 404 page body. */
export function NotFound({ path, prefix }: { path: string; prefix: string }) {
  return (
    <section className="not-found">
      <h2>Page not found</h2>
      <p>
        Nothing lives at <code>{path}</code>.
      </p>
      <p>
        <a href={`${prefix}/`}>Back to all products</a>
      </p>
    </section>
  );
}

/** The listing page: the whole document. */
export function ListingView({ products, prefix }: ListingData) {
  return (
    <Layout title="React Shop" prefix={prefix}>
      <ProductGrid products={products} prefix={prefix} />
    </Layout>
  );
}

/** A product page: the whole document. */
export function ProductView({ product, variant, prefix }: ProductData) {
  return (
    <Layout title={`${product.name} | React Shop`} prefix={prefix}>
      <ProductDetail product={product} variant={variant} prefix={prefix} />
    </Layout>
  );
}

/** The not-found page: the whole document. */
export function NotFoundView({ path, prefix }: NotFoundData) {
  return (
    <Layout title="Not found | React Shop" prefix={prefix}>
      <NotFound path={path} prefix={prefix} />
    </Layout>
  );
}
