/**
 * A real browser for the suites: Debian's Chromium driven by
 * playwright-core, headless, with every request and console line of a page
 * recorded so a test can assert "no console errors, no failed requests".
 * `.ci/run` installs Chromium when the machine lacks it.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Where `chromium` is looked for, first the `FLOTILLA_CHROMIUM` override. */
const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Screenshots the suites keep, as test artifacts (ignored by git). */
export const SCREENSHOT_DIR = fileURLToPath(
  new URL('../../.artifacts/screenshots/', import.meta.url),
);

// Chromium's own connections (updates, sync, metrics) are refused on the
// closed networks CI runs on; as root it needs --no-sandbox.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--no-first-run',
  '--disable-quic',
];

/** The Chromium binary, or a clear error saying how to install it. */
export function chromiumPath(): string {
  const candidates = [process.env.FLOTILLA_CHROMIUM, ...CHROMIUM_PATHS].filter(
    (p): p is string => typeof p === 'string' && p !== '',
  );
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `no Chromium found (looked at ${candidates.join(', ')}): install it with "apt-get install -y chromium" (.ci/run does), or set FLOTILLA_CHROMIUM`,
    );
  }
  return found;
}

/** Launches headless Chromium. Close it with `browser.close()`. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
}

/** What a page did that a user would notice as broken. */
export interface PageProblems {
  /** Console messages of type `error`, and uncaught page errors. */
  consoleErrors: string[];
  /** Requests that failed outright or were answered with status ≥ 400. */
  failedRequests: string[];
  /** Every URL the page requested, in order. */
  requests: string[];
}

/**
 * Records `page`'s console errors, uncaught errors and failed requests from
 * now on. The returned object fills in as the page runs.
 */
export function watchPage(page: Page): PageProblems {
  const problems: PageProblems = { consoleErrors: [], failedRequests: [], requests: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => problems.consoleErrors.push(`uncaught: ${err.message}`));
  page.on('request', (req) => problems.requests.push(req.url()));
  page.on('requestfailed', (req) =>
    problems.failedRequests.push(
      `${req.method()} ${req.url()}: ${req.failure()?.errorText ?? 'failed'}`,
    ),
  );
  page.on('response', (res) => {
    if (res.status() >= 400) problems.failedRequests.push(`${res.status()} ${res.url()}`);
  });
  return problems;
}

/** Saves a full-page screenshot as `<SCREENSHOT_DIR>/<name>.png`; returns its path. */
export async function keepScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name.replace(/[^a-z0-9._-]+/gi, '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
