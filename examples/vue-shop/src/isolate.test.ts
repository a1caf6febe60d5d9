import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ProductsApi, startProductsApi } from '@flotilla/example-products-api';
import { PRODUCT_COUNT, PRODUCTS } from '@flotilla/example-products-api/products';
import { DeploymentIsolate, type SandboxResponse } from '@flotilla/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, VUE_DEFINES } from '../build.ts';

let dir: string;
let api: ProductsApi;
let iso: DeploymentIsolate;
let built: Awaited<ReturnType<typeof build>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-vue-shop-'));
  api = await startProductsApi({ port: 0 });
  built = await build({ outDir: join(dir, 'dist') });
  iso = await DeploymentIsolate.load({
    deploymentId: 'vue-shop-test',
    code: await readFile(built.bundlePath, 'utf8'),
    bundleHash: built.manifest.bundleHash,
    backends: { api: api.url },
  });
});

afterAll(async () => {
  iso?.dispose();
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

async function render(
  path: string,
  headers: Array<[string, string]> = [],
): Promise<SandboxResponse> {
  return iso.render({
    method: 'GET',
    url: `http://vue-shop.localhost${path}`,
    headers,
    body: null,
  });
}

const text = (res: SandboxResponse) => new TextDecoder().decode(res.body);
const countCards = (html: string) => html.match(/class="product-card"/g)?.length ?? 0;

describe('vue-shop built and run in an isolate', () => {
  it('builds from flotilla.config.json: routes, backend, stylesheet asset', async () => {
    const { manifest, outDir, bundlePath, manifestPath } = built;
    expect(outDir).toBe(join(dir, 'dist'));
    expect(bundlePath).toBe(join(dir, 'dist', 'bundle.js'));
    expect(manifestPath).toBe(join(dir, 'dist', 'manifest.json'));
    expect(manifest).toMatchObject({
      manifestVersion: 2,
      name: 'vue-shop',
      framework: 'vue',
      backends: { api: 'http://127.0.0.1:4001' },
    });
    expect(manifest.routes.map((r) => r.criteria.path)).toEqual([
      '/',
      '/p/:id',
      '/:path*',
      '/:path*',
    ]);
    // The flags the bench's plain-Node build uses are the ones the bundle is built with.
    expect(built.config.define).toEqual(VUE_DEFINES);
    const css = await readFile(join(import.meta.dirname, '..', 'public', 'styles.css'));
    const paths = manifest.assets.map((a) => a.path);
    expect(paths).toContain('/styles.css');
    const hashed = paths.find((p) => /^\/assets\/styles\.[0-9a-f]+\.css$/.test(p));
    expect(hashed).toBeDefined();
    expect(await readFile(join(dir, 'dist', 'assets', ...(hashed ?? '').split('/')))).toEqual(css);
  });

  it('lists the products the API returns, linking the hashed stylesheet under the prefix', async () => {
    const res = await render('/', [['x-forwarded-prefix', '/vue-shop']]);
    expect(res.status).toBe(200);
    const html = text(res);
    expect(countCards(html)).toBe(PRODUCT_COUNT);
    for (const product of [PRODUCTS[0], PRODUCTS[59], PRODUCTS[119]]) {
      expect(html).toContain(`<a href="/vue-shop/p/${product?.id}">${product?.name}</a>`);
    }
    const hashed = built.manifest.assets.find((a) => a.permanent)?.path;
    expect(html).toContain(`<link rel="stylesheet" href="/vue-shop${hashed}">`);
  });

  it('renders a product page, and the 404 page when the API says 404', async () => {
    const detail = await render('/p/7');
    expect(detail.status).toBe(200);
    expect(text(detail)).toContain(`<h2>${PRODUCTS[6]?.name}</h2>`);

    const missing = await render('/p/999');
    expect(missing.status).toBe(404);
    expect(text(missing)).toContain('Page not found');
    expect((await render('/nope')).status).toBe(404);
  });
});
