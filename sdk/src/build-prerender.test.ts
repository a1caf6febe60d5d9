import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, computeContentHash } from './build.ts';
import type { BuildError } from './build-errors.ts';
import { type Scratch, scratch } from './build-test-support.ts';

const SDK = JSON.stringify(join(import.meta.dirname, 'index.ts'));

let s: Scratch;
let dir: string;

beforeAll(async () => {
  s = await scratch();
  const app = (prerender: string) =>
    [
      `import { Router } from ${SDK};`,
      'export default new Router()',
      `  ${prerender}`,
      "  .get('/', ({ render }) => render(() => new Response('home')));",
    ].join('\n');
  dir = await s.project('prerender', {
    'listed.ts': app(
      ".prerender([{ path: '/' }, { path: '/p/1?x=1' }]).prerender(() => [{ path: '/' }, { path: '/late' }])",
    ),
    'async.ts': app(".prerender(async () => [{ path: '/a' }])"),
    'fetches.ts': app(".prerender(async () => (await fetch('http://api/paths')).json())"),
    'headers.ts': app(".prerender([{ path: '/', headers: { 'x-a': '1' } }])"),
    'relative.ts': app(".prerender([{ path: '/' }, { path: 'p/1' }])"),
    'none.ts': app(''),
    'cached.ts': [
      `import { Router } from ${SDK};`,
      'export default new Router()',
      "  .prerender([{ path: '/' }, { path: '/p/1' }, { path: '/nowhere/x' }])",
      "  .get('/', ({ cache, render }) => { cache({ edge: { maxAgeSeconds: 60 } }); render(() => new Response('home')); })",
      "  .get('/p/:id', ({ render }) => render(() => new Response('p')));",
    ].join('\n'),
  });
});
afterAll(() => s.cleanup());

const details: string[] = [];

async function build(entry: string, prerenderRequests?: Array<{ path: string }>) {
  details.length = 0;
  return buildApp({
    entry: join(dir, entry),
    outDir: join(dir, `out-${entry}-${prerenderRequests?.length ?? 0}`),
    name: 'pre',
    framework: 'none',
    ...(prerenderRequests ? { prerenderRequests } : {}),
    onProgress: ({ detail }) => details.push(detail),
  });
}

async function failure(entry: string): Promise<BuildError> {
  const err = await build(entry).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!err) throw new Error(`${entry} built`);
  return err as BuildError;
}

describe('router.prerender() in the build', () => {
  it('writes the config paths then the router paths, each once, into the manifest and its hash', async () => {
    const { manifest } = await build('listed.ts', [{ path: '/first' }, { path: '/' }]);
    expect(manifest.prerender).toEqual(['/first', '/', '/p/1?x=1', '/late']);
    expect(manifest.contentHash).toBe(computeContentHash(manifest));
    const without = await build('none.ts');
    expect(without.manifest.prerender).toBeUndefined();
    expect((await build('async.ts')).manifest.prerender).toEqual(['/a']);
  });

  it('warns of each path the shield may not store, naming its route', async () => {
    await build('cached.ts');
    const said = details.filter((d) => d.endsWith('to prerender') || d.startsWith('warning:'));
    expect(said).toEqual([
      '3 path(s) to prerender',
      'warning: prerender /p/1: route GET /p/:id (route 1) declares no edge maxAgeSeconds: the shield stores it only if the response says s-maxage or max-age',
      'warning: prerender /nowhere/x: no route matches it (the bundle answers 404, which is not stored)',
    ]);
  });

  it('fails naming router.prerender() for what Flotilla cannot do at build', async () => {
    expect((await failure('fetches.ts')).message).toMatch(
      /^flotilla build: pre: router\.prerender\(\): fetch is not available .* \(a prerender function runs at build, without fetch: list the paths, or put them in prerenderRequests of flotilla\.config\.json\)$/,
    );
    expect((await failure('headers.ts')).message).toBe(
      'flotilla build: pre: router.prerender(): request 0 has headers, which Flotilla does not support (only path: the shield prerenders a plain GET)',
    );
    expect((await failure('relative.ts')).message).toBe(
      'flotilla build: pre: router.prerender(): request 1 path must start with "/" (got "p/1")',
    );
  });
});
