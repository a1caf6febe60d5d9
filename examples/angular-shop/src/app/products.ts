import { isPlatformServer } from '@angular/common';
import { HttpClient } from '@angular/common/http';
import {
  Injectable,
  inject,
  makeStateKey,
  PLATFORM_ID,
  RESPONSE_INIT,
  TransferState,
} from '@angular/core';
import type { ResolveFn } from '@angular/router';
import { catchError, NEVER, type Observable, of, tap } from 'rxjs';

/**
 * Where the products API is. Inside the fleet the app fetches its declared
 * backend `api` (`backend://api/…`, which an environment can re-point); on
 * Angular's own Node server (`ng serve`, `serve:ssr`) it fetches
 * `$API_ORIGIN`, default `http://127.0.0.1:4001`.
 */
declare const Flotilla: object | undefined;
const ORIGIN =
  typeof Flotilla === 'object'
    ? 'backend://api'
    : ((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[
        'API_ORIGIN'
      ] ?? 'http://127.0.0.1:4001');

/** Products on the listing page. */
export const PAGE_SIZE = 24;

/** One product as the API returns it. */
export interface Product {
  id: number;
  name: string;
  priceCents: number;
  description: string;
  rating: number;
  reviewCount: number;
  category: string;
}

/** `$12.34` */
export function formatPrice(cents: number): string {
  return `$${(cents / 100).toFixed(2)}`;
}

/**
 * The products, fetched on the server and handed to the browser in the
 * page's transfer state. The API takes no requests from browsers, so a
 * client-side navigation uses what the page already holds (the listing has
 * every product it links to); anything else is a full page load.
 */
@Injectable({ providedIn: 'root' })
export class Products {
  private readonly http = inject(HttpClient);
  private readonly state = inject(TransferState);
  private readonly server = isPlatformServer(inject(PLATFORM_ID));
  private readonly response = inject(RESPONSE_INIT, { optional: true });
  private readonly known = new Map<number, Product>();

  list(url: string): Observable<Product[]> {
    const key = makeStateKey<Product[]>('products');
    const held = this.state.get(key, null);
    if (held) return of(this.remember(held));
    if (!this.server) return this.reload(url);
    return this.http
      .get<Product[]>(`${ORIGIN}/products?limit=${PAGE_SIZE}`)
      .pipe(tap((products) => this.state.set(key, this.remember(products))));
  }

  get(id: string, url: string): Observable<Product | null> {
    const key = makeStateKey<Product>(`product-${id}`);
    const held = this.known.get(Number(id)) ?? this.state.get(key, null);
    if (held) return of(held);
    if (!/^\d+$/.test(id)) return of(this.notFound());
    if (!this.server) return this.reload(url);
    return this.http.get<Product>(`${ORIGIN}/products/${id}`).pipe(
      tap((product) => this.state.set(key, product)),
      catchError(() => of(this.notFound())),
    );
  }

  private remember(products: Product[]): Product[] {
    for (const product of products) this.known.set(product.id, product);
    return products;
  }

  private notFound(): null {
    if (this.response) this.response.status = 404;
    return null;
  }

  /** The browser has no data for `url`: the server renders it. */
  private reload<T>(url: string): Observable<T> {
    location.assign(url);
    return NEVER;
  }
}

export const productsResolver: ResolveFn<Product[]> = (_route, state) =>
  inject(Products).list(state.url);

export const productResolver: ResolveFn<Product | null> = (route, state) =>
  inject(Products).get(route.paramMap.get('id') ?? '', state.url);
