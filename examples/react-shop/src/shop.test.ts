import { PRODUCTS, startProductsApi } from '@flotilla/example-products-api';
import { describeShop } from '@flotilla/test-harness/shop-contract';
import { build, PROJECT_DIR } from '../build.ts';
import app from './app.tsx';
import * as pages from './render.tsx';

// The shops' shared contract (pages from data, the Router in Node, its
// routes, the build in an isolate), in React's markup.
describeShop({
  name: 'react-shop',
  title: 'React Shop',
  framework: 'react',
  app,
  build,
  projectDir: PROJECT_DIR,
  pages,
  api: { start: startProductsApi, products: PRODUCTS },
  markup: {
    voidEnd: '/>',
    listingCount: (count) => `All products (<!-- -->${count}<!-- -->)`,
  },
  synchronous: true,
});
