import { mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildProgress, buildApp } from './build.ts';
import { BuildError } from './build-errors.ts';
import { call, evaluateBundle, type Scratch, scratch } from './build-test-support.ts';

// The browser code of a build: what `flotilla build` emits for React and Vue
// apps so that their pages hydrate.

const SDK = join(import.meta.dirname, '..');

let s: Scratch;

beforeAll(async () => {
  s = await scratch();
});

afterAll(async () => {
  await s.cleanup();
});

/** A project in the scratch directory that resolves the SDK and the frameworks as an app does. */
async function project(name: string, files: Record<string, string>): Promise<string> {
  const dir = await s.project(name, files);
  const modules = join(dir, 'node_modules');
  await mkdir(join(modules, '@flotilla'), { recursive: true });
  await symlink(SDK, join(modules, '@flotilla', 'sdk'));
  for (const pkg of ['react', 'react-dom', 'vue']) {
    await symlink(join(SDK, 'node_modules', pkg), join(modules, pkg));
  }
  return dir;
}

const REACT_APP = `
import { Router } from '@flotilla/sdk';
import { reactPage, useLoaderData } from '@flotilla/sdk/react';
// An app module may import the server renderer itself (the example shops do).
import { renderToString } from 'react-dom/server.edge';
export const render = renderToString;

function Page() {
  const data = useLoaderData<{ name: string }>();
  return <html><body><h1>{data.name}</h1></body></html>;
}
export default new Router().get('/p/:id', ({ render }) =>
  render(reactPage(Page, { load: ({ params }) => ({ name: 'item ' + params.id }) })),
);
`;

const VUE_APP = `
import { Router } from '@flotilla/sdk';
import { useLoaderData, vuePage } from '@flotilla/sdk/vue';
import { defineComponent, h } from 'vue';

const Page = defineComponent({
  setup() {
    const data = useLoaderData<{ name: string }>();
    return () => h('h1', data.name);
  },
});
export default new Router().get('/', ({ render }) =>
  render(vuePage(Page, { load: () => ({ name: 'home' }), head: '<title>home</title>' })),
);
`;

async function build(dir: string, framework: 'react' | 'vue' | 'none', entry = 'src/app.tsx') {
  const progress: BuildProgress[] = [];
  const result = await buildApp({
    entry: join(dir, entry),
    outDir: join(dir, 'out'),
    name: 'hydrating',
    framework,
    onProgress: (p) => progress.push(p),
  });
  const client = result.manifest.assets.filter((a) => a.path.startsWith('/assets/client/'));
  const read = (path: string) => readFile(join(dir, 'out', 'assets', ...path.split('/')), 'utf8');
  return { ...result, progress, client, read };
}

describe('the browser code of a build', () => {
  it('splits a React app: the app and the runtime in the entry, React in a shared chunk', async () => {
    const dir = await project('react-app', { 'src/app.tsx': REACT_APP });
    const { client, read, progress, bundlePath } = await build(dir, 'react');
    const entry = client.find((a) => /^\/assets\/client\/main-[A-Z0-9]{8}\.js$/.test(a.path));
    const chunk = client.find((a) => /^\/assets\/client\/chunk-[A-Z0-9]{8}\.js$/.test(a.path));
    expect(client).toHaveLength(2);
    if (!entry || !chunk) throw new Error('no entry or no chunk');
    for (const asset of client) {
      expect(asset).toMatchObject({
        permanent: true,
        contentType: 'text/javascript; charset=utf-8',
      });
    }
    const main = await read(entry.path);
    const framework = await read(chunk.path);
    // React (its shared internals) is in the chunk, not in the entry.
    expect(framework).toContain('__CLIENT_INTERNALS_DO_NOT_USE_OR_WARN_USERS_THEY_CANNOT_UPGRADE');
    expect(main).not.toContain('__CLIENT_INTERNALS_DO_NOT_USE_OR_WARN_USERS_THEY_CANNOT_UPGRADE');
    expect(main).toContain(`from"./${chunk.path.split('/').pop()}"`);
    // The server renderer is left out: a stand-in that says why.
    expect(main).toContain('is not in the browser code: pages render on the server');
    expect(main.length + framework.length).toBeLessThan(400_000);
    expect(progress.filter((p) => p.phase === 'client').map((p) => p.detail)).toEqual([
      'bundling the browser code that hydrates the pages',
      expect.stringMatching(
        /^chunk-[A-Z0-9]{8}\.js \d+(\.\d)? KB, main-[A-Z0-9]{8}\.js \d+(\.\d)? KB$/,
      ),
    ]);

    // The bundle's pages load that entry and preload that chunk.
    const handler = evaluateBundle(await readFile(bundlePath, 'utf8'));
    const html = await (await call(handler, 'http://shop.test/p/4')).text();
    expect(html).toContain('<h1>item 4</h1>');
    expect(html).toContain(`<link rel="modulepreload" href="${chunk.path}" data-flotilla>`);
    expect(html).toContain(`<script type="module" src="${entry.path}" data-flotilla></script>`);
  });

  it('splits a Vue app the same way', async () => {
    const dir = await project('vue-app', { 'src/app.ts': VUE_APP });
    const { client, read } = await build(dir, 'vue', 'src/app.ts');
    expect(client.map((a) => a.path.replace(/-[A-Z0-9]{8}\.js$/, '')).sort()).toEqual([
      '/assets/client/chunk',
      '/assets/client/main',
    ]);
    const chunk = await read(client.find((a) => a.path.includes('/chunk-'))?.path ?? '');
    expect(chunk).toContain('__vue_app__');
  });

  it('has none for an app without pages, or whose framework is none', async () => {
    const plain = `export default { fetch: () => new Response('<p>plain</p>') };\n`;
    const dir = await project('plain-app', { 'src/app.tsx': plain });
    const react = await build(dir, 'react');
    expect(react.client).toEqual([]);
    expect(react.progress.filter((p) => p.phase === 'client').at(-1)?.detail).toBe(
      'no pages to hydrate (the app uses neither reactPage nor vuePage): no browser code',
    );
    const none = await build(await project('none-app', { 'src/app.tsx': REACT_APP }), 'none');
    expect(none.client).toEqual([]);
    expect(none.progress.some((p) => p.phase === 'client')).toBe(false);
  });

  it('names the import chain to a Node built-in', async () => {
    const dir = await project('builtin-app', {
      'src/app.tsx': `import { hash } from './lib.ts';\n${REACT_APP}\nexport const h = hash;\n`,
      'src/lib.ts': "import { createHash } from 'node:crypto';\nexport const hash = createHash;\n",
    });
    const error = await build(dir, 'react').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BuildError);
    expect((error as Error).message).toMatch(
      /imports the Node built-in "node:crypto", which bundles cannot use \(they run in an isolate, without Node's APIs\): \S*src\/app\.tsx → \S*src\/lib\.ts → node:crypto/,
    );
  });
});
