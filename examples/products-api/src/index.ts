/**
 * `@flotilla/example-products-api`: the JSON backend of the example shops.
 *
 * Run it as a process (`node examples/products-api/src/server.ts --port 4001`)
 * or start it in-process with {@link startProductsApi}. The catalogue itself
 * is also exported from `@flotilla/example-products-api/products` (no Node
 * imports there).
 *
 * @module
 */
export {
  type ApiResponse,
  DEFAULT_HOST,
  DEFAULT_PORT,
  type ProductsApi,
  type ProductsApiOptions,
  productsApiResponse,
  startProductsApi,
} from './api.ts';
export { findProduct, PRODUCT_COUNT, PRODUCTS, type Product } from './products.ts';
export { parseServerArgs } from './server.ts';
