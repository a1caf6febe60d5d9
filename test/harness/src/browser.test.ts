import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepScreenshot, launchBrowser, watchPage } from './browser.ts';
import { type ListeningServer, listen } from './http.ts';

describe('the suites’ browser', () => {
  let browser: Browser;
  let server: ListeningServer;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await listen((req, res) => {
      if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(
          '<!doctype html><button id="b" onclick="this.textContent=\'clicked\'">click</button>' +
            '<script>console.error("boom")</script><img src="/missing.png">',
        );
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('clicks, and records console errors and failed requests', async () => {
    const page = await browser.newPage();
    const problems = watchPage(page);
    await page.goto(`${server.url}/`, { waitUntil: 'load' });
    await page.click('#b');
    expect(await page.textContent('#b')).toBe('clicked');
    expect(problems.consoleErrors).toContain('boom');
    expect(problems.failedRequests).toEqual([`404 ${server.url}/missing.png`]);
    expect(await keepScreenshot(page, 'harness-self-test')).toMatch(/harness-self-test\.png$/);
  });
});
