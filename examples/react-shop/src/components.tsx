/**
 * The shop's React components, nested the way a real storefront nests them:
 * Layout > Header > Nav, ProductGrid > ProductCard > Price / Rating / TagList,
 * ProductDetail > VariantList, NotFound, Footer; and the three whole pages
 * (ListingView, ProductView, NotFoundView). They take everything as props:
 * the Router's pages (`app.tsx`) feed them loader data, the pure render
 * functions (`render.tsx`) feed them data directly.
 *
 * Every link is prefixed with `prefix` (the `x-forwarded-prefix` the app was
 * served under, or `''`).
 *
 * @module
 */

import {
  formatPrice,
  type ListingData,
  type NotFoundData,
  type Product,
  type ProductData,
  VARIANTS,
  type Variant,
} from '@flotilla/example-products-api/shop-client';
import { assetUrl } from '@flotilla/sdk';
import type { ReactNode } from 'react';

/** Where the stylesheet is served: its content-hashed path in a build, `/styles.css` outside one. */
export function stylesheetHref(prefix: string): string {
  return `${prefix}${assetUrl('/styles.css')}`;
}

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
        <link rel="stylesheet" href={stylesheetHref(props.prefix)} />
      </head>
      <body>
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
    </header>
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

/** The listing: one card per product. */
export function ProductGrid(props: { products: readonly Product[]; prefix: string }) {
  return (
    <section>
      <h2>All products ({props.products.length})</h2>
      <ul className="product-grid">
        {props.products.map((product) => (
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
