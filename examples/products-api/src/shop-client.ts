/**
 * The shops' side of the products API, shared by the React and Vue shops
 * (framework aside): the data each page gets, how it is loaded from the API
 * through the declared backend `api`, the link prefix and price formatting.
 * Bundle-safe (no Node imports): import it as
 * `@flotilla/example-products-api/shop-client`.
 *
 * @module
 */

import { BackendError, notFound, type RenderContext } from '@flotilla/sdk';
import type { Product } from './products.ts';

export type { Product };

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

/** A prefix that is a plain absolute path: `/react-shop`, `/a/b/`. */
const PLAIN_PATH = /^(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)+\/?$/;

/**
 * The link prefix from an `x-forwarded-prefix` value: accepted only if it is
 * a plain absolute path (`/react-shop`, `/vue-shop`); anything else (a URL, `//host`,
 * control characters) gives `''`. A trailing `/` is dropped.
 *
 * @example
 * normalisePrefix('/react-shop/'); // '/react-shop'
 * normalisePrefix('//evil.example'); // ''
 */
export function normalisePrefix(prefix: string | null | undefined): string {
  if (typeof prefix !== 'string' || !PLAIN_PATH.test(prefix)) return '';
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

/** The `variant` query parameter if it names one of {@link VARIANTS}, else the default. */
export function variantOf(query: URLSearchParams): Variant {
  const value = query.get('variant');
  return (VARIANTS as readonly string[]).includes(value ?? '') ? (value as Variant) : VARIANTS[0];
}

/** Formats cents as `$12.34`. */
export function formatPrice(cents: number): string {
  const dollars = Math.floor(cents / 100);
  const rest = String(cents % 100).padStart(2, '0');
  return `$${dollars}.${rest}`;
}

function prefixOf(ctx: RenderContext): string {
  return normalisePrefix(ctx.request.headers.get('x-forwarded-prefix'));
}

/** Loads the listing: every product, from `GET /products` of backend `api`. */
export async function loadListing(ctx: RenderContext): Promise<ListingData> {
  const products = await ctx.backend('api').json<Product[]>('/products');
  return { prefix: prefixOf(ctx), products };
}

/**
 * Loads a product page from `GET /products/:id` of backend `api`.
 *
 * @throws NotFoundError (the 404 page, with {@link NotFoundData}) for an id
 * that is not a number or that the API answers 404 for.
 * @throws BackendError for any other non-2xx answer.
 */
export async function loadProduct(ctx: RenderContext): Promise<ProductData> {
  const prefix = prefixOf(ctx);
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
  return { prefix: prefixOf(ctx), path: new URL(ctx.request.url).pathname };
}
