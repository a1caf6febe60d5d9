/**
 * The products API: a JSON HTTP API over the catalogue, on `node:http`.
 *
 * | Request | Answer |
 * | --- | --- |
 * | `GET /products?limit=&offset=` | `200`, JSON array of products (all by default), header `x-total-count` |
 * | `GET /products/:id` | `200`, the product; `404` `{ error: 'not_found' }` for an unknown id |
 * | `GET /healthz` | `200` `{ status: 'ok', products: 120 }` |
 * | `HEAD` of each | the same status and headers, no body |
 * | another method on those paths | `405`, `allow: GET, HEAD` |
 * | a bad `limit`/`offset` | `400` `{ error: 'bad_request' }` |
 * | any other path | `404` `{ error: 'not_found' }` |
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FlotillaError, InvalidOptionError } from '@flotilla/protocol';
import { PRODUCTS, type Product } from './products.ts';

/** Default port of {@link startProductsApi} (and of `src/server.ts`). */
export const DEFAULT_PORT = 4001;

/** Default host of {@link startProductsApi}. */
export const DEFAULT_HOST = '127.0.0.1';

/** An answer of {@link productsApiResponse}: plain data, no I/O. */
export interface ApiResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The JSON text; `''` for a HEAD request. */
  body: string;
}

/** Options of {@link startProductsApi}. */
export interface ProductsApiOptions {
  /**
   * Address to listen on.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Port to listen on; `0` picks a free one (read it from `url`).
   * @default 4001
   */
  port?: number;
  /**
   * The catalogue it serves (tests serve their own, e.g. a product whose
   * name is markup).
   * @default PRODUCTS, the 120 generated products
   */
  products?: readonly Product[];
}

/** A running products API. */
export interface ProductsApi {
  /** Its origin, e.g. `http://127.0.0.1:4001` (no trailing `/`). */
  url: string;
  /** The port it listens on (the one picked when `port` was 0). */
  port: number;
  /** Stops listening and closes open connections. Safe to call twice. */
  close(): Promise<void>;
}

const PRODUCT_PATH = /^\/products\/([^/]+)$/;
const PRODUCT_ID = /^[1-9][0-9]{0,8}$/;
const COUNT = /^[0-9]{1,9}$/;
const ALLOW = 'GET, HEAD';

function json(method: string, status: number, value: unknown, extra: Record<string, string> = {}) {
  const text = JSON.stringify(value);
  return {
    status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      ...extra,
    },
    body: method === 'HEAD' ? '' : text,
  } satisfies ApiResponse;
}

function notFound(method: string, message: string): ApiResponse {
  return json(method, 404, { error: 'not_found', message });
}

/** Reads a `limit`/`offset` query parameter: absent → `fallback`, else a non-negative integer. */
function count(query: URLSearchParams, name: string, fallback: number): number | string {
  const values = query.getAll(name);
  if (values.length === 0) return fallback;
  const value = values[0] ?? '';
  if (values.length > 1 || !COUNT.test(value)) {
    return `query parameter "${name}" must be one non-negative integer, got ${JSON.stringify(values.join(','))}`;
  }
  return Number(value);
}

/**
 * The API's answer to one request, without any I/O: what the server writes.
 *
 * @param method - Request method (any case).
 * @param target - Request target as on the request line: `/products?limit=10`.
 * @param products - The catalogue. @default PRODUCTS
 * @example
 * productsApiResponse('GET', '/products/7').status; // 200
 * productsApiResponse('GET', '/products/999').status; // 404
 */
export function productsApiResponse(
  method: string,
  target: string,
  products: readonly Product[] = PRODUCTS,
): ApiResponse {
  const verb = method.toUpperCase();
  let url: URL;
  try {
    url = new URL(target, 'http://products-api.invalid');
  } catch {
    return json(verb, 400, { error: 'bad_request', message: 'unparsable request target' });
  }
  const path = url.pathname;
  const productMatch = PRODUCT_PATH.exec(path);
  if (path !== '/products' && path !== '/healthz' && !productMatch) {
    return notFound(verb, `no route for ${path}`);
  }
  if (verb !== 'GET' && verb !== 'HEAD') {
    return json(
      verb,
      405,
      { error: 'method_not_allowed', message: `${verb} is not allowed on ${path}` },
      { allow: ALLOW },
    );
  }
  if (path === '/healthz') return json(verb, 200, { status: 'ok', products: products.length });
  if (productMatch) {
    const raw = productMatch[1] ?? '';
    const product = PRODUCT_ID.test(raw) ? products.find((p) => p.id === Number(raw)) : undefined;
    return product ? json(verb, 200, product) : notFound(verb, `no product ${raw}`);
  }
  const offset = count(url.searchParams, 'offset', 0);
  const limit = count(url.searchParams, 'limit', products.length);
  for (const problem of [offset, limit]) {
    if (typeof problem === 'string')
      return json(verb, 400, { error: 'bad_request', message: problem });
  }
  const start = offset as number;
  const page = products.slice(start, start + (limit as number));
  return json(verb, 200, page, { 'x-total-count': String(products.length) });
}

function handler(products: readonly Product[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    // A request body is never read; drop it so the connection can be reused.
    req.resume();
    const answer = productsApiResponse(req.method ?? 'GET', req.url ?? '/', products);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  };
}

function validate(options: ProductsApiOptions): {
  host: string;
  port: number;
  products: readonly Product[];
} {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  if (typeof host !== 'string' || host === '') {
    throw new InvalidOptionError('host', `must be a non-empty string, got ${JSON.stringify(host)}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError('port', `must be an integer 0–65535, got ${JSON.stringify(port)}`);
  }
  const products = options.products ?? PRODUCTS;
  if (!Array.isArray(products) || products.some((p) => !Number.isInteger(p?.id))) {
    throw new InvalidOptionError(
      'products',
      'must be an array of products, each with an integer id',
    );
  }
  return { host, port, products };
}

/**
 * Starts the products API.
 *
 * @returns Its origin and a `close()`, once it listens.
 * @throws InvalidOptionError naming `host`, `port` or `products` when one is invalid;
 * FlotillaError `FLOTILLA_ERR_INVALID_OPTION` when the address cannot be
 * listened on (in use, not local).
 * @example
 * const api = await startProductsApi({ port: 0 });
 * const products = await (await fetch(`${api.url}/products?limit=10`)).json();
 * await api.close();
 */
export async function startProductsApi(options: ProductsApiOptions = {}): Promise<ProductsApi> {
  const { host, port, products } = validate(options);
  const server = createServer(handler(products));
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'EADDRINUSE'
          ? 'the address is already in use (pick another port, or 0 for any free one)'
          : error.message;
      reject(
        new FlotillaError(
          'FLOTILLA_ERR_INVALID_OPTION',
          `products-api: cannot listen on ${host}:${port}: ${why}`,
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
