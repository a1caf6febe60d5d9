/**
 * A small Vue Router app for `isolate.test.ts`: bundled with esbuild and run
 * in a real isolate. Not part of the SDK.
 */
import { defineComponent, h } from 'vue';
import { Router } from './index.ts';
import { notFound, useLoaderData, vuePage } from './vue.ts';

const ProductPage = defineComponent({
  setup() {
    // biome-ignore lint/correctness/useHookAtTopLevel: a Vue composable, called in setup()
    const product = useLoaderData<{ name: string }>();
    return () => h('main', [h('h1', product.name)]);
  },
});

const Missing = defineComponent({
  setup() {
    // biome-ignore lint/correctness/useHookAtTopLevel: a Vue composable, called in setup()
    const data = useLoaderData<{ id: string }>();
    return () => h('h1', `No product ${data.id}`);
  },
});

export default new Router().get('/p/:productId', ({ render }) =>
  render(
    vuePage<{ name: string }>(ProductPage, {
      load: async ({ params, backend }) => {
        const res = await backend('api').fetch(`/products/${params.productId}`);
        if (res.status === 404) throw notFound({ id: params.productId });
        return (await res.json()) as { name: string };
      },
      head: '<title>Vue shop</title>',
      notFound: Missing,
    }),
  ),
);
