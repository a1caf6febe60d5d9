import { createElement } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineComponent, h } from 'vue';
import { parseHydrationPayload } from '../hydration.ts';
import { reactPage, useLoaderData as useReactData } from '../react.ts';
import { useLoaderData as useVueData, vuePage } from '../vue.ts';
import { notFound } from './errors.ts';
import { Router } from './router.ts';
import { renderContext } from './serve.ts';

// What a page ships to hydrate, when the build has browser code
// (`__FLOTILLA_CLIENT__`): the payload, the preloads and the module script.

const CLIENT = {
  entry: '/assets/client/main-AAAA1111.js',
  preload: ['/assets/client/chunk-BBBB2222.js'],
};

beforeEach(() => {
  vi.stubGlobal('__FLOTILLA_CLIENT__', CLIENT);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

interface Item {
  name: string;
}

function ItemDocument() {
  const item = useReactData<Item>();
  return createElement(
    'html',
    null,
    createElement('body', null, createElement('h1', null, item.name)),
  );
}

function ItemBody() {
  return createElement('h1', null, useReactData<Item>().name);
}

function Missing() {
  return createElement('p', null, `no ${useReactData<{ id: string }>().id}`);
}

const load = ({ params }: { params: Record<string, string> }): Item => {
  if (params.id === '0') throw notFound({ id: params.id });
  return { name: `</script><script>alert(${params.id})</script>\u2028` };
};

const documentPage = reactPage<Item>(ItemDocument, { load, notFound: Missing });
const bodyPage = reactPage<Item>(ItemBody, { load, head: '<title>x</title>' });
const app = new Router()
  .get('/doc/:id', ({ render }) => render(documentPage))
  .get('/body/:id', ({ render }) => render(bodyPage))
  .get('/bare/:id', ({ render }) => render(reactPage<Item>(ItemBody, { load })))
  .get('/off/:id', ({ render }) => render(reactPage<Item>(ItemBody, { load, hydrate: false })))
  .get('/default-404', ({ render }) =>
    render(reactPage(ItemBody, { load: () => Promise.reject(notFound()) })),
  )
  .get('/wrapped/:id', ({ render }) => render((ctx) => documentPage(ctx)))
  .get('/send', ({ send }) =>
    send('<!doctype html><body>plain</body>', 200, { 'content-type': 'text/html' }),
  );

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await app.fetch(new Request(`http://shop.test${path}`, { headers }));
  return { status: res.status, html: await res.text() };
}

const payloadOf = (html: string) =>
  parseHydrationPayload(
    /<script type="application\/json" id="flotilla-data" data-flotilla>([^<]*)<\/script>/.exec(
      html,
    )?.[1] ?? '',
  );

describe('a page the build has browser code for', () => {
  it('carries its data and loads the module script before </body>, under the prefix', async () => {
    const { status, html } = await get('/doc/7', { 'x-forwarded-prefix': '/shop' });
    expect(status).toBe(200);
    expect(
      html.startsWith(
        '<!doctype html><html><head></head><body><h1>&lt;/script&gt;&lt;script&gt;alert(7)',
      ),
    ).toBe(true);
    expect(
      html.endsWith(
        '<link rel="modulepreload" href="/shop/assets/client/chunk-BBBB2222.js" data-flotilla>' +
          '<script type="module" src="/shop/assets/client/main-AAAA1111.js" data-flotilla></script></body></html>',
      ),
    ).toBe(true);
    // The one </script> in the page closes the data script: the name's is escaped.
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    const json = html.slice(html.indexOf('id="flotilla-data"'));
    expect(json).not.toMatch(/[\u2028\u2029]/);
    expect(json).toContain('\\u2028');
    expect(payloadOf(html)).toEqual({
      v: 1,
      route: 0,
      page: 'page',
      root: 'document',
      url: 'http://shop.test/doc/7',
      params: { id: '7' },
      data: { name: '</script><script>alert(7)</script>\u2028' },
    });
  });

  it('names the not-found component and its data on a 404', async () => {
    const { status, html } = await get('/doc/0');
    expect(status).toBe(404);
    expect(payloadOf(html)).toMatchObject({ route: 0, page: 'notFound', data: { id: '0' } });
    expect(html).toContain(
      '<script type="module" src="/assets/client/main-AAAA1111.js" data-flotilla>',
    );
  });

  it('hydrates <body> when Flotilla writes the document, and appends the scripts when there is no </body>', async () => {
    const withHead = await get('/body/1');
    expect(payloadOf(withHead.html)).toMatchObject({ route: 1, root: 'body' });
    expect(withHead.html).toMatch(
      /^<!doctype html><html><head><title>x<\/title><\/head><body><h1>[\s\S]*<\/h1><script/,
    );
    const bare = await get('/bare/1');
    expect(payloadOf(bare.html)).toMatchObject({ route: 2, root: 'body' });
    expect(bare.html.endsWith('data-flotilla></script>')).toBe(true);
  });

  it('ships nothing with hydrate: false, without a component, for another render function, or a send()', async () => {
    for (const path of ['/off/1', '/default-404', '/wrapped/1', '/send']) {
      const { html } = await get(path);
      expect(html, path).not.toContain('<script');
      expect(html, path).not.toContain('data-flotilla');
    }
    // Called directly, not as its route's render function: nothing to find it by.
    const direct = await documentPage(
      renderContext(new Request('http://shop.test/doc/1'), { id: '1' }, {}),
    );
    expect(await direct.text()).not.toContain('<script');
  });

  it('ships nothing when the build has no browser code', async () => {
    vi.stubGlobal('__FLOTILLA_CLIENT__', null);
    expect((await get('/doc/1')).html).toBe(
      '<!doctype html><html><head></head><body><h1>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;\u2028</h1></body></html>',
    );
  });

  it('ignores a prefix that is not a plain path', async () => {
    const { html } = await get('/doc/1', { 'x-forwarded-prefix': '//evil.example' });
    expect(html).toContain('src="/assets/client/main-AAAA1111.js"');
    expect(html).not.toContain('evil');
  });

  it('fails the render, naming the field, when the data cannot be sent as JSON', async () => {
    const dated = new Router().get('/', ({ render }) =>
      render(reactPage(ItemBody, { load: () => ({ name: 'x', added: new Date(0) }) })),
    );
    await expect(dated.fetch(new Request('http://shop.test/'))).rejects.toThrow(
      "reactPage: the page's data cannot be sent to the browser to hydrate it: data.added is a Date, not a plain object. " +
        'Return plain JSON data from load (objects, arrays, strings, finite numbers, booleans, null), or set hydrate: false',
    );
  });

  it('works the same for Vue pages', async () => {
    const ItemView = defineComponent({
      setup() {
        // biome-ignore lint/correctness/useHookAtTopLevel: a Vue composable, called in setup()
        const item = useVueData<Item>();
        return () => h('html', [h('body', [h('h1', item.name)])]);
      },
    });
    const vueApp = new Router()
      .get('/p/:id', ({ render }) => render(vuePage<Item>(ItemView, { load })))
      .get('/h/:id', ({ render }) =>
        render(vuePage<Item>(ItemView, { load, head: '<title>t</title>' })),
      );
    const res = await vueApp.fetch(
      new Request('http://shop.test/p/3', { headers: { 'x-forwarded-prefix': '/vue' } }),
    );
    const html = await res.text();
    expect(html).toMatch(
      /^<!doctype html><html><body><h1>&lt;\/script&gt;[\s\S]*<\/h1><script type="application\/json"/,
    );
    expect(html).toContain(
      '<script type="module" src="/vue/assets/client/main-AAAA1111.js" data-flotilla></script></body></html>',
    );
    expect(payloadOf(html)).toMatchObject({
      route: 0,
      page: 'page',
      root: 'document',
      params: { id: '3' },
    });
    const withHead = await (await vueApp.fetch(new Request('http://shop.test/h/3'))).text();
    expect(payloadOf(withHead)).toMatchObject({ route: 1, root: 'body' });
  });
});
