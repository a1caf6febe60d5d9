import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProject } from '@flotilla/sdk/build';
import type { FleetFixtures } from '@flotilla/test-harness';
import { keepScreenshot, type PageProblems, watchPage } from '@flotilla/test-harness/browser';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserFleet, startBrowserFleet } from '../support/browser-fleet.ts';
import { openControlPlane } from '../support/control-plane.ts';

// (The pages declare a data: favicon so the browser asks the shield for no
// /favicon.ico, which no app serves.)
//
// What the SDK's hydration does beyond the example shops, in Chromium from a
// real fleet: pages whose document Flotilla writes (`head`) hydrate
// `<body>`, in React and in Vue; in the browser `useRenderContext()` has the
// server's params; a page with `hydrate: false` and a `send()` answer load
// no JavaScript at all.

const SDK = fileURLToPath(new URL('../../sdk/', import.meta.url));

const REACT_APP = `
import { Router } from '@flotilla/sdk';
import { reactPage, useLoaderData, useRenderContext } from '@flotilla/sdk/react';
import { useState } from 'react';

const ICON = '<link rel="icon" href="data:,">';

function Counter() {
  const { start } = useLoaderData<{ start: number }>();
  const { params } = useRenderContext();
  const [count, setCount] = useState(start);
  return (
    <main>
      <h1>Item {params.id}</h1>
      <button type="button" id="inc" onClick={() => setCount(count + 1)}>{count}</button>
    </main>
  );
}

function Still() {
  return <p>no JavaScript here</p>;
}

export default new Router()
  .get('/p/:id', ({ render }) =>
    render(reactPage(Counter, { load: ({ params }) => ({ start: Number(params.id) * 10 }), head: ICON + '<title>Counter</title>' })),
  )
  .get('/still', ({ render }) => render(reactPage(Still, { head: ICON + '<title>Still</title>', hydrate: false })))
  .get('/sent', ({ send }) => send('<!doctype html>' + ICON + '<title>Sent</title><p>sent</p>', 200, { 'content-type': 'text/html; charset=utf-8' }));
`;

const VUE_APP = `
import { Router } from '@flotilla/sdk';
import { useLoaderData, useRenderContext, vuePage } from '@flotilla/sdk/vue';
import { defineComponent, h, ref } from 'vue';

const ICON = '<link rel="icon" href="data:,">';

const Counter = defineComponent({
  setup() {
    const { start } = useLoaderData<{ start: number }>();
    const { params } = useRenderContext();
    const count = ref(start);
    return () => h('main', [
      h('h1', 'Item ' + params.id),
      h('button', { type: 'button', id: 'inc', onClick: () => { count.value++; } }, String(count.value)),
    ]);
  },
});

export default new Router().get('/p/:id', ({ render }) =>
  render(vuePage(Counter, { load: ({ params }) => ({ start: Number(params.id) * 10 }), head: ICON + '<title>Counter</title>' })),
);
`;

const APPS = [
  { name: 'hydrate-react', framework: 'react', entry: 'src/app.tsx', source: REACT_APP },
  { name: 'hydrate-vue', framework: 'vue', entry: 'src/app.ts', source: VUE_APP },
] as const;

/** Writes, builds and publishes both apps (resolving the SDK and the frameworks as an app does). */
async function publishApps(natsUrl: string, dir: string): Promise<FleetFixtures> {
  const root = await mkdtemp(join(tmpdir(), 'flotilla-hydrate-'));
  const publisher = await openControlPlane(natsUrl);
  try {
    for (const app of APPS) {
      const project = join(root, app.name);
      await mkdir(join(project, 'src'), { recursive: true });
      await mkdir(join(project, 'node_modules', '@flotilla'), { recursive: true });
      await symlink(SDK, join(project, 'node_modules', '@flotilla', 'sdk'));
      for (const pkg of ['react', 'react-dom', 'vue']) {
        await symlink(join(SDK, 'node_modules', pkg), join(project, 'node_modules', pkg));
      }
      await writeFile(join(project, app.entry), app.source);
      const config = { name: app.name, entry: app.entry, framework: app.framework };
      await writeFile(join(project, 'flotilla.config.json'), JSON.stringify(config));
      const built = await buildProject({ dir: project, outDir: join(dir, app.name) });
      await publisher.controlPlane.publish(
        { dir: dirname(built.bundlePath) },
        { env: 'production' },
      );
    }
  } finally {
    await publisher.close();
    await rm(root, { recursive: true, force: true });
  }
  return { close: async () => {} };
}

describe('hydration in Chromium, from a real fleet', () => {
  let run: BrowserFleet;

  beforeAll(async () => {
    run = await startBrowserFleet(publishApps);
  }, 240_000);

  afterAll(() => run?.stop(), 60_000);

  async function open(path: string): Promise<{ page: Page; problems: PageProblems }> {
    const page = await run.browser.newPage();
    const problems = watchPage(page);
    // Hydration mismatches are errors in production builds; warnings would do too.
    page.on('console', (msg) => {
      if (msg.type() === 'warning') problems.consoleErrors.push(`warning: ${msg.text()}`);
    });
    await page.goto(`${run.fleet.shield.url}${path}`, { waitUntil: 'load', timeout: 60_000 });
    return { page, problems };
  }

  for (const app of APPS) {
    it(`${app.name}: a page in a document Flotilla writes hydrates <body>, with the server's params`, async () => {
      const { page, problems } = await open(`/${app.name}/p/4`);
      await page.waitForSelector('html[data-hydrated]', { timeout: 60_000 });
      expect(await page.title()).toBe('Counter');
      expect(await page.locator('h1').textContent()).toBe('Item 4');
      expect(await page.locator('#inc').textContent()).toBe('40');
      await page.click('#inc');
      await page.click('#inc');
      await expect.poll(() => page.locator('#inc').textContent()).toBe('42');
      // The body is the component's markup alone: the hydration nodes are gone.
      expect(await page.evaluate(() => document.body.children.length)).toBe(1);
      await keepScreenshot(page, `hydration-${app.name}`);
      expect(problems.consoleErrors).toEqual([]);
      expect(problems.failedRequests).toEqual([]);
      expect(problems.requests.filter((url) => url.endsWith('.js')).length).toBeGreaterThanOrEqual(
        2,
      );
      await page.close();
    }, 120_000);
  }

  it('a page with hydrate: false and a send() answer load no JavaScript', async () => {
    for (const path of ['/hydrate-react/still', '/hydrate-react/sent']) {
      const { page, problems } = await open(path);
      expect(await page.evaluate(() => document.scripts.length), path).toBe(0);
      expect(problems.requests, path).toEqual([`${run.fleet.shield.url}${path}`]);
      expect(await page.locator('html[data-hydrated]').count(), path).toBe(0);
      expect(problems.consoleErrors, path).toEqual([]);
      await page.close();
    }
  }, 120_000);
});
