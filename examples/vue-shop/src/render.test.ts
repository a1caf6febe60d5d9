import { PRODUCT_COUNT, PRODUCTS } from '@flotilla/example-products-api/products';
import { describe, expect, it } from 'vitest';
import { renderListing, renderNotFound, renderPage, renderProduct, renderRoute } from './render.ts';

const countCards = (html: string) => html.match(/class="product-card"/g)?.length ?? 0;
const hrefs = (html: string) => [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1] ?? '');

describe('vue-shop pages from data', () => {
  it('renders the listing: one card per product, in a complete document', async () => {
    const html = await renderListing(PRODUCTS);
    expect(html.startsWith('<!doctype html><html lang="en">')).toBe(true);
    expect(html).toContain('<title>Vue Shop</title>');
    expect(html).toMatch(/<h1><a href="\/">Vue Shop<\/a><\/h1>/);
    expect(html).toContain('<link rel="stylesheet" href="/styles.css">');
    expect(html).toContain(`All products (${PRODUCT_COUNT})`);
    expect(countCards(html)).toBe(PRODUCT_COUNT);
    expect(html).toContain('href="/p/120"');
    expect(html).toContain(PRODUCTS[41]?.name);
  });

  it('lists whatever products it is given', async () => {
    const two = [PRODUCTS[4], PRODUCTS[9]].filter((p) => p !== undefined);
    const html = await renderListing(two);
    expect(countCards(html)).toBe(2);
    expect(html).toContain('data-id="5"');
    expect(html).toContain('data-id="10"');
    expect(html).not.toContain('data-id="1"');
  });

  it('renders a product page with its details, price and variants', async () => {
    const product = PRODUCTS[6];
    if (!product) throw new Error('no product 7');
    const html = await renderProduct(product, '', 'large');
    expect(html).toContain(`<title>${product.name} | Vue Shop</title>`);
    expect(html).toContain(`<h2>${product.name}</h2>`);
    expect(html).toContain(product.description);
    const dollars = Math.floor(product.priceCents / 100);
    expect(html).toContain(`$${dollars}.${String(product.priceCents % 100).padStart(2, '0')}`);
    expect(html).toContain('<a href="/p/7?variant=large" aria-current="true">large</a>');
    expect(html).toContain('<a href="/p/7?variant=standard">standard</a>');
    expect(countCards(html)).toBe(0);
  });

  it('renders the not-found page naming the path', async () => {
    const html = await renderNotFound('/nope');
    expect(html).toContain('<title>Not found | Vue Shop</title>');
    expect(html).toContain('Page not found');
    expect(html).toContain('<code>/nope</code>');
  });

  it('routes a path to its page and status', async () => {
    expect((await renderRoute('/', PRODUCTS)).status).toBe(200);
    const detail = await renderRoute('/p/7?variant=gift-wrapped&ref=x', PRODUCTS);
    expect(detail.status).toBe(200);
    expect(detail.html).toContain('aria-current="true">gift-wrapped</a>');
    expect((await renderRoute('/p/7?variant=huge', PRODUCTS)).html).toContain(
      'aria-current="true">standard</a>',
    );
    for (const path of ['/p/999', '/p/0', '/p/07', '/p/abc', '/nope', '/p/7/x']) {
      const page = await renderRoute(path, PRODUCTS);
      expect(page.status, path).toBe(404);
      expect(page.html).toContain('Page not found');
    }
    // A product the given catalogue lacks is not found either.
    expect((await renderRoute('/p/7', PRODUCTS.slice(0, 3))).status).toBe(404);
  });

  it('renderPage returns the HTML', async () => {
    const html = await renderPage('/', PRODUCTS, '/shop');
    expect(countCards(html)).toBe(PRODUCT_COUNT);
    expect(html).toContain('href="/shop/p/1"');
    expect(await renderPage('/p/999', PRODUCTS)).toContain('Page not found');
  });

  it('prefixes every link, the stylesheet included, with the prefix', async () => {
    const html = await renderPage('/', PRODUCTS, '/vue-shop');
    expect(html).toContain('href="/vue-shop/p/1"');
    expect(html).toContain('href="/vue-shop/"');
    expect(html).toContain('href="/vue-shop/styles.css"');
    const all = hrefs(html);
    expect(all.length).toBeGreaterThan(PRODUCT_COUNT);
    for (const href of all) expect(href).toMatch(/^\/vue-shop\//);

    const detail = await renderPage('/p/3', PRODUCTS, '/vue-shop/');
    expect(detail).toContain('href="/vue-shop/"');
    for (const href of hrefs(detail)) expect(href).toMatch(/^\/vue-shop\//);
  });

  it('ignores a prefix that is not a plain path', async () => {
    for (const prefix of [
      '//evil.example',
      'https://evil.example',
      'javascript:alert(1)',
      '/a b',
    ]) {
      const html = await renderPage('/', PRODUCTS, prefix);
      expect(html).toContain('href="/p/1"');
      expect(html).not.toContain('evil');
      expect(html).not.toContain('javascript:');
    }
  });
});
