import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineComponent, h } from 'vue';
import { renderContext } from './router/serve.ts';
import { notFound, useLoaderData, useRenderContext, vuePage } from './vue.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

const ProductView = defineComponent({
  setup() {
    // biome-ignore lint/correctness/useHookAtTopLevel: a Vue composable, called in setup()
    const product = useLoaderData<{ name: string }>();
    // biome-ignore lint/correctness/useHookAtTopLevel: a Vue composable, called in setup()
    const { params } = useRenderContext();
    return () => h('main', [h('h1', product.name), h('span', `id ${params.id}`)]);
  },
});

const Missing = defineComponent({
  setup() {
    // biome-ignore lint/correctness/useHookAtTopLevel: a Vue composable, called in setup()
    const data = useLoaderData<{ id: string }>();
    return () => h('p', `no product ${data.id}`);
  },
});

const ctx = (params: Record<string, string>) =>
  renderContext(new Request('https://shop.example/p'), params, {});

describe('vuePage', () => {
  it('loads data from a backend, then renders the component with it', async () => {
    vi.stubGlobal('fetch', async (url: string) =>
      url === 'backend://api/products/7'
        ? Response.json({ name: 'Desk <Lamp>' })
        : new Response('', { status: 404 }),
    );
    const page = vuePage<{ name: string }>(ProductView, {
      load: ({ params, backend }) => backend('api').json(`/products/${params.id}`),
      head: '<title>Shop</title>',
    });
    const res = await page(ctx({ id: '7' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe(
      '<!doctype html><html><head><title>Shop</title></head><body><main><h1>Desk &lt;Lamp&gt;</h1><span>id 7</span></main></body></html>',
    );
  });

  it('renders the not-found component with status 404 when load throws notFound()', async () => {
    const page = vuePage(ProductView, {
      load: ({ params }) => {
        throw notFound({ id: params.id });
      },
      notFound: Missing,
    });
    const res = await page(ctx({ id: '9' }));
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('<!doctype html><p>no product 9</p>');
  });

  it('takes the status from the data', async () => {
    const page = vuePage<{ name: string }>(ProductView, {
      load: () => ({ name: 'x' }),
      status: () => 203,
    });
    expect((await page(ctx({ id: '1' }))).status).toBe(203);
  });
});
