import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProductsApi, productsApiResponse, startProductsApi } from './api.ts';
import { PRODUCT_COUNT, PRODUCTS, type Product } from './products.ts';

describe('productsApiResponse', () => {
  it('lists every product by default, with the total in a header', () => {
    const res = productsApiResponse('GET', '/products');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['x-total-count']).toBe(String(PRODUCT_COUNT));
    const list = JSON.parse(res.body) as Product[];
    expect(list).toHaveLength(PRODUCT_COUNT);
    expect(list).toEqual(PRODUCTS);
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.body)));
  });

  it('pages with limit and offset', () => {
    const page = JSON.parse(productsApiResponse('GET', '/products?limit=5&offset=10').body);
    expect(page.map((p: Product) => p.id)).toEqual([11, 12, 13, 14, 15]);
    expect(JSON.parse(productsApiResponse('GET', '/products?limit=0').body)).toEqual([]);
    expect(JSON.parse(productsApiResponse('GET', '/products?offset=118').body)).toHaveLength(2);
    expect(JSON.parse(productsApiResponse('GET', '/products?offset=500').body)).toEqual([]);
  });

  it.each(['limit=-1', 'limit=abc', 'offset=1.5', 'limit=', 'limit=1&limit=2'])(
    'refuses ?%s with a 400 naming the parameter',
    (query) => {
      const res = productsApiResponse('GET', `/products?${query}`);
      expect(res.status).toBe(400);
      const body = JSON.parse(res.body);
      expect(body.error).toBe('bad_request');
      expect(body.message).toMatch(/query parameter "(limit|offset)"/);
    },
  );

  it('answers one product, and a JSON 404 for unknown ids', () => {
    const res = productsApiResponse('GET', '/products/7');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual(PRODUCTS[6]);
    for (const id of ['999', '0', '07', 'abc', '121']) {
      const missing = productsApiResponse('GET', `/products/${id}`);
      expect(missing.status).toBe(404);
      expect(missing.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(missing.body)).toEqual({ error: 'not_found', message: `no product ${id}` });
    }
  });

  it('answers HEAD with the GET headers and no body', () => {
    for (const path of ['/products', '/products/3', '/products/999', '/healthz']) {
      const get = productsApiResponse('GET', path);
      const head = productsApiResponse('HEAD', path);
      expect(head.status).toBe(get.status);
      expect(head.headers).toEqual(get.headers);
      expect(head.body).toBe('');
    }
  });

  it('reports health, 405s other methods and 404s other paths', () => {
    expect(JSON.parse(productsApiResponse('GET', '/healthz').body)).toEqual({
      status: 'ok',
      products: PRODUCT_COUNT,
    });
    const post = productsApiResponse('POST', '/products');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    for (const path of ['/', '/product', '/products/', '/products/1/reviews']) {
      expect(productsApiResponse('GET', path).status).toBe(404);
    }
  });
});

describe('startProductsApi', () => {
  let api: ProductsApi;

  beforeAll(async () => {
    api = await startProductsApi({ port: 0 });
  });

  afterAll(async () => {
    await api.close();
  });

  it('serves the catalogue over HTTP on the address it reports', async () => {
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(api.url).toBe(`http://127.0.0.1:${api.port}`);
    const list = await fetch(`${api.url}/products?limit=3`);
    expect(list.status).toBe(200);
    expect(list.headers.get('x-total-count')).toBe('120');
    expect(await list.json()).toEqual(PRODUCTS.slice(0, 3));

    const one = await fetch(`${api.url}/products/42`);
    expect(await one.json()).toEqual(PRODUCTS[41]);

    const missing = await fetch(`${api.url}/products/999`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toBe('not_found');

    const head = await fetch(`${api.url}/products`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');

    const post = await fetch(`${api.url}/products`, { method: 'POST', body: 'x'.repeat(100_000) });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');

    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  });

  it('refuses bad options by name, and a port in use', async () => {
    await expect(startProductsApi({ port: -1 })).rejects.toThrow(/option "port"/);
    await expect(startProductsApi({ port: 1.5 })).rejects.toThrow(/option "port"/);
    await expect(startProductsApi({ host: '' })).rejects.toThrow(/option "host"/);
    await expect(startProductsApi({ port: api.port })).rejects.toMatchObject({
      name: 'FlotillaError',
      code: 'FLOTILLA_ERR_INVALID_OPTION',
      message: expect.stringMatching(
        /cannot listen on 127\.0\.0\.1:\d+: the address is already in use/,
      ),
    });
  });

  it('serves a catalogue of its own when given one', async () => {
    const product = { ...(PRODUCTS[0] as Product), id: 7, name: '</script><b>x</b>' };
    const own = await startProductsApi({ port: 0, products: [product] });
    try {
      expect(await (await fetch(`${own.url}/products`)).json()).toEqual([product]);
      expect(await (await fetch(`${own.url}/products/7`)).json()).toEqual(product);
      expect((await fetch(`${own.url}/products/1`)).status).toBe(404);
    } finally {
      await own.close();
    }
    await expect(startProductsApi({ products: [{}] as never })).rejects.toThrow(
      /option "products" must be an array of products/,
    );
  });

  it('closes (twice is fine) and stops answering', async () => {
    const other = await startProductsApi({ port: 0 });
    // Hold a keep-alive connection open: close() must not wait for it.
    expect((await fetch(`${other.url}/healthz`)).status).toBe(200);
    await other.close();
    await other.close();
    await expect(fetch(`${other.url}/healthz`)).rejects.toThrow();
  });
});
