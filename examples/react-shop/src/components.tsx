/**
 * The shop's React components, nested the way a real storefront nests them:
 * Layout > Header > Nav, ProductGrid > ProductCard > Price / Rating / TagList,
 * ProductDetail, NotFound, Footer.
 *
 * Every link is prefixed with `prefix` (the `x-forwarded-prefix` the app was
 * served under, or `''`).
 *
 * @module
 */
import type { ReactNode } from 'react';
import { formatPrice, type Product } from './products.ts';

const STYLES = `
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#20232a;color:#61dafb;padding:1rem 2rem}
header a{color:inherit;text-decoration:none}
nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}
nav a{color:#fff}
main{padding:1rem 2rem}
.product-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem;list-style:none;padding:0}
.product-card{background:#fff;border:1px solid #ddd;border-radius:.5rem;padding:1rem}
.tags{display:flex;gap:.25rem;list-style:none;padding:0;flex-wrap:wrap}
.tag{background:#eef;border-radius:.25rem;padding:0 .25rem;font-size:.8rem}
footer{padding:1rem 2rem;color:#666}
`;

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
        <style>{STYLES}</style>
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
export function ProductDetail({ product, prefix }: { product: Product; prefix: string }) {
  return (
    <article className="product-detail" data-id={product.id}>
      <h2>{product.name}</h2>
      <p className="category">{product.category}</p>
      <Price cents={product.priceCents} />
      <Rating rating={product.rating} reviews={product.reviewCount} />
      <p className="description">{product.description}</p>
      <TagList tags={product.tags} />
      <p>
        <a href={`${prefix}/`}>Back to all products</a>
      </p>
    </article>
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
