/**
 * The shops' side of the products API, shared by the React and Vue shops
 * (framework aside): the data each page gets, how it is loaded from the API
 * through the declared backend `api`, the listing's filter and price
 * formatting. Bundle-safe (no Node imports; it runs in the isolate and in
 * the browser): import it as `@flotilla/example-products-api/shop-client`.
 *
 * @module
 */

import {
  assetUrl,
  BackendError,
  normalizePrefix,
  notFound,
  type RenderContext,
  requestPrefix,
} from '@flotilla/sdk';
import type { Product } from './products.ts';

export type { Product };
export { normalizePrefix };

/** The variants a product page offers (`?variant=`); the first is the default. */
export const VARIANTS = ['standard', 'large', 'gift-wrapped'] as const;

/** One of {@link VARIANTS}. */
export type Variant = (typeof VARIANTS)[number];

/** What every page gets. */
export interface PageData {
  /** Path prefix of every link (`/react-shop`, `/vue-shop`), `''` for none. */
  prefix: string;
}

/** The listing page's data. */
export interface ListingData extends PageData {
  products: Product[];
}

/** A product page's data. */
export interface ProductData extends PageData {
  product: Product;
  variant: Variant;
}

/** The not-found page's data. */
export interface NotFoundData extends PageData {
  /** The path nothing lives at, without the prefix. */
  path: string;
}

/** Product ids as the URL spells them: no sign, no leading zero. */
const PRODUCT_ID = /^[1-9][0-9]{0,8}$/;

/** The `variant` query parameter if it names one of {@link VARIANTS}, else the default. */
export function variantOf(query: URLSearchParams): Variant {
  const value = query.get('variant');
  return (VARIANTS as readonly string[]).includes(value ?? '') ? (value as Variant) : VARIANTS[0];
}

/**
 * The products whose name, category or a tag contains every word of
 * `query` (case-insensitive); all of them for a blank query.
 *
 * @example
 * filterProducts(PRODUCTS, 'oak lamp'); // the oak lamps
 */
export function filterProducts<P extends Product>(products: readonly P[], query: string): P[] {
  const words = query
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== '');
  if (words.length === 0) return [...products];
  return products.filter((p) => {
    const text = [p.name, p.category, ...p.tags].join(' ').toLowerCase();
    return words.every((w) => text.includes(w));
  });
}

/**
 * Where a static file of the shops is served under `prefix`: its
 * content-hashed path in a build (`/react-shop/assets/styles.fd29060e28.css`),
 * its plain path outside one.
 */
export function assetHref(prefix: string, path: string): string {
  return `${prefix}${assetUrl(path)}`;
}

/** Formats cents as `$12.34`. */
export function formatPrice(cents: number): string {
  const dollars = Math.floor(cents / 100);
  const rest = String(cents % 100).padStart(2, '0');
  return `$${dollars}.${rest}`;
}

/** Loads the listing: every product, from `GET /products` of backend `api`. */
export async function loadListing(ctx: RenderContext): Promise<ListingData> {
  const products = await ctx.backend('api').json<Product[]>('/products');
  return { prefix: requestPrefix(ctx.request), products };
}

/**
 * Loads a product page from `GET /products/:id` of backend `api`.
 *
 * @throws NotFoundError (the 404 page, with {@link NotFoundData}) for an id
 * that is not a number or that the API answers 404 for.
 * @throws BackendError for any other non-2xx answer.
 */
export async function loadProduct(ctx: RenderContext): Promise<ProductData> {
  const prefix = requestPrefix(ctx.request);
  const url = new URL(ctx.request.url);
  const id = ctx.params.id ?? '';
  const missing = () => notFound({ prefix, path: url.pathname } satisfies NotFoundData);
  if (!PRODUCT_ID.test(id)) throw missing();
  const path = `/products/${id}`;
  const res = await ctx.backend('api').fetch(path, { headers: { accept: 'application/json' } });
  if (res.status === 404) throw missing();
  if (!res.ok) throw new BackendError('api', path, res.status);
  const product = (await res.json()) as Product;
  return { prefix, product, variant: variantOf(url.searchParams) };
}

/** The not-found page's data (no backend call). */
export function loadNotFound(ctx: RenderContext): NotFoundData {
  return { prefix: requestPrefix(ctx.request), path: new URL(ctx.request.url).pathname };
}
