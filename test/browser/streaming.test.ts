import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserFleet, startBrowserFleet } from '../support/browser-fleet.ts';
import { fixtures } from '../support/control-plane.ts';
import { type SlowBackend, startSlowBackend, streamApp } from '../support/stream-bundles.ts';

// Issue 18, "Streaming SSR", as a visitor sees it: Chromium shows the
// shell (and the Suspense fallback) of a streamed React page while its slow
// part waits on the backend, then the slow part in its place once it comes,
// in the same page load.
describe('a streamed React page in Chromium', () => {
  let env: BrowserFleet;
  let backend: SlowBackend;

  beforeAll(async () => {
    backend = await startSlowBackend();
    env = await startBrowserFleet(fixtures(streamApp(backend.origin)));
  }, 90_000);

  afterAll(async () => {
    await env?.stop();
    await backend?.close();
  });

  it('shows the shell first, then the suspended content', async () => {
    const context = await env.browser.newContext();
    try {
      const page = await context.newPage();
      // The document is still loading while the slow part waits: go on at its first bytes.
      await page.goto(`${env.fleet.shield.url}/streamtest/page/9`, { waitUntil: 'commit' });
      await page.locator('#shell').waitFor();
      await backend.called('page-9');
      expect(await page.locator('#shell').textContent()).toBe('Shell of 9');
      expect(await page.locator('#fallback').isVisible()).toBe(true);
      expect(await page.locator('#late').count()).toBe(0);
      backend.open('page-9', 'slow part, rendered later');
      await page.locator('#late').waitFor();
      expect(await page.locator('#late').textContent()).toBe('slow part, rendered later');
      expect(await page.locator('#fallback').count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 60_000);
});
