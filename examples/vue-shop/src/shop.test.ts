import { PRODUCTS, startProductsApi } from '@flotilla/example-products-api';
import { describeShop } from '@flotilla/test-harness/shop-contract';
import { build, PROJECT_DIR, VUE_DEFINES } from '../build.ts';
import app from './app.ts';
import * as pages from './render.ts';

// The shops' shared contract (pages from data, the Router in Node, its
// routes, the build in an isolate), in Vue's markup; its build also sets
// Vue's feature flags.
describeShop({
  name: 'vue-shop',
  title: 'Vue Shop',
  framework: 'vue',
  app,
  build,
  projectDir: PROJECT_DIR,
  pages,
  api: { start: startProductsApi, products: PRODUCTS },
  markup: { voidEnd: '>', listingCount: (count) => `All products (${count})` },
  synchronous: false,
  define: VUE_DEFINES,
});
