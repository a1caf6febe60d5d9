import { createElement } from 'react';
import { renderToString } from 'react-dom/server.edge';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { notFound, reactPage, useLoaderData, useRenderContext } from './react.ts';
import { renderContext } from './router/serve.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

interface Product {
  id: string;
  name: string;
}

function ProductView() {
  const product = useLoaderData<Product>();
  const { params } = useRenderContext();
  return createElement('main', null, createElement('h1', null, product.name), `id ${params.id}`);
}

function Missing() {
  const data = useLoaderData<{ id: string } | undefined>();
  return createElement('p', null, `no product ${data?.id}`);
}

const ctx = (path: string, params: Record<string, string>) =>
  renderContext(new Request(`https://shop.example${path}`), params, {});

describe('reactPage', () => {
  it('loads data from a backend, then renders the component with it', async () => {
    vi.stubGlobal('fetch', async (url: string) =>
      url === 'backend://api/products/7'
        ? Response.json({ id: '7', name: 'Desk <Lamp>' })
        : new Response('', { status: 404 }),
    );
    const page = reactPage<Product>(ProductView, {
      load: ({ params, backend }) => backend('api').json<Product>(`/products/${params.id}`),
      head: (p) => `<title>${p.id}</title>`,
    });
    const res = await page(ctx('/p/7', { id: '7' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe(
      '<!doctype html><html><head><title>7</title></head><body><main><h1>Desk &lt;Lamp&gt;</h1>id 7</main></body></html>',
    );
  });

  it('renders the not-found component with status 404 when load throws notFound()', async () => {
    const page = reactPage<Product>(ProductView, {
      load: ({ params }) => {
        throw notFound({ id: params.id });
      },
      notFound: Missing,
    });
    const res = await page(ctx('/p/9', { id: '9' }));
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('<!doctype html><p>no product 9</p>');

    const plain = await reactPage(ProductView, { load: () => Promise.reject(notFound()) })(
      ctx('/p/9', {}),
    );
    expect(plain.status).toBe(404);
    expect(await plain.text()).toContain('<h1>Not found</h1>');
  });

  it('takes the status from the data, and a custom document', async () => {
    const page = reactPage<{ name: string; gone: boolean }>(ProductView, {
      load: () => ({ id: '1', name: 'Old', gone: true }),
      status: (p) => (p.gone ? 410 : 200),
      document: ({ html, status }) => `<!DOCTYPE html><body data-status="${status}">${html}</body>`,
      headers: { 'cache-control': 'no-store' },
    });
    const res = await page(ctx('/p/1', { id: '1' }));
    expect(res.status).toBe(410);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toBe(
      '<!DOCTYPE html><body data-status="410"><main><h1>Old</h1>id 1</main></body>',
    );
  });

  it('lets errors other than notFound() fail the render', async () => {
    const page = reactPage(ProductView, { load: () => Promise.reject(new Error('db down')) });
    await expect(page(ctx('/', {}))).rejects.toThrow('db down');
  });

  it('refuses bad options and hooks outside a page', () => {
    expect(() => reactPage(ProductView, { title: 'x' } as never)).toThrow(
      'reactPage: unknown option "title" (known: load, status, head, document, notFound, headers, hydrate)',
    );
    expect(() => renderToString(createElement(ProductView))).toThrow(
      'useLoaderData() works only in components rendered by reactPage()',
    );
  });
});
