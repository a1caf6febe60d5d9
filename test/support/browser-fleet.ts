import { type Fleet, type FleetPublisher, startFleet } from '@flotilla/test-harness';
import { launchBrowser } from '@flotilla/test-harness/browser';
import type { Browser } from 'playwright-core';

/** A fleet and a browser for a browser suite; `stop()` ends both. */
export interface BrowserFleet {
  fleet: Fleet;
  browser: Browser;
  stop(): Promise<void>;
}

/**
 * Starts, side by side, a fleet (nats-server, one scheduler, one worker and
 * one shield, each its own process) serving what `publish` publishes, and
 * headless Chromium. When either fails, the other is stopped again.
 */
export async function startBrowserFleet(publish: FleetPublisher): Promise<BrowserFleet> {
  const [fleet, browser] = await Promise.allSettled([
    startFleet({ schedulers: 1, workers: 1, publish }),
    launchBrowser(),
  ]);
  if (fleet.status === 'rejected' || browser.status === 'rejected') {
    if (fleet.status === 'fulfilled') await fleet.value.stop();
    if (browser.status === 'fulfilled') await browser.value.close();
    throw fleet.status === 'rejected' ? fleet.reason : (browser as PromiseRejectedResult).reason;
  }
  return {
    fleet: fleet.value,
    browser: browser.value,
    async stop() {
      await browser.value.close();
      await fleet.value.stop();
    },
  };
}
