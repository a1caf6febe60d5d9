/**
 * `node:async_hooks` in a build: `AsyncLocalStorage` maps to the isolate's
 * (`Flotilla.AsyncLocalStorage`) and the bundle's async functions are lowered
 * so that its context survives awaits; any other name from the module is a
 * build error naming it. Built bundles run in a real DeploymentIsolate.
 */
import { readFile } from 'node:fs/promises';
import { DeploymentIsolate } from '@flotilla/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProject } from './build.ts';
import { BuildError } from './build-errors.ts';
import { type Scratch, scratch } from './build-test-support.ts';

let s: Scratch;
beforeAll(async () => {
  s = await scratch();
});
afterAll(async () => {
  await s.cleanup();
});

function project(name: string, app: string, files: Record<string, string> = {}) {
  return s.project(name, {
    'flotilla.config.json': { name, entry: 'src/app.ts', framework: 'none' },
    'src/app.ts': app,
    ...files,
  });
}

async function failure(promise: Promise<unknown>): Promise<BuildError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BuildError);
  return error as BuildError;
}

/** Renders `/?id=<id>&ms=<ms>` for each id at once in one isolate of `code`; the bodies, by id. */
async function renderAtOnce(code: string, ids: string[]): Promise<string[]> {
  const iso = await DeploymentIsolate.load({ deploymentId: 'als-build', code, bundleHash: 'h' });
  try {
    return await Promise.all(
      ids.map(async (id, i) => {
        const res = await iso.render({
          method: 'GET',
          url: `http://shop.test/?id=${id}&ms=${(ids.length - i) * 5}`,
          headers: [],
          body: null,
        });
        return new TextDecoder().decode(res.body);
      }),
    );
  } finally {
    iso.dispose();
  }
}

/** A store per request, read after awaits in another module (the way frameworks use it). */
const CONTEXT_MODULE = `
import { AsyncLocalStorage } from 'node:async_hooks';
const requests = new AsyncLocalStorage<{ id: string }>();
export const withRequest = <T>(id: string, fn: () => T): T => requests.run({ id }, fn);
export const currentId = (): string => requests.getStore()?.id ?? 'none';
`;

const APP = `
import { currentId, withRequest } from './context.ts';
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function load(ms: number): Promise<string> {
  await wait(ms);
  const a = currentId();
  await Promise.all([wait(1), Promise.resolve()]);
  return a + '/' + currentId();
}
export default {
  fetch(request: Request): Promise<Response> {
    const q = new URL(request.url).searchParams;
    return withRequest(q.get('id') ?? '', async () => new Response(await load(Number(q.get('ms')))));
  },
};
`;

describe('node:async_hooks in a build', () => {
  it('gives AsyncLocalStorage, lowers the bundle, and each concurrent render sees its store', async () => {
    const dir = await project('als', APP, { 'src/context.ts': CONTEXT_MODULE });
    const built = await buildProject({ dir });
    const code = await readFile(built.bundlePath, 'utf8');
    // Lowered: no native await is left to lose the context.
    expect(code).not.toMatch(/\bawait\b/);
    expect(await renderAtOnce(code, ['a', 'b', 'c'])).toEqual(['a/a', 'b/b', 'c/c']);
  }, 60_000);

  it('maps the bare async_hooks and a dynamic import (as SvelteKit imports it) too', async () => {
    const dir = await project('als-dynamic', APP, {
      'src/context.ts': `
let als: import('node:async_hooks').AsyncLocalStorage<{ id: string }> | undefined;
import('async_hooks').then((hooks) => { als = new hooks.AsyncLocalStorage(); });
export const withRequest = <T>(id: string, fn: () => T): T => (als ? als.run({ id }, fn) : fn());
export const currentId = (): string => als?.getStore()?.id ?? 'none';
`,
    });
    const code = await readFile((await buildProject({ dir })).bundlePath, 'utf8');
    expect(await renderAtOnce(code, ['x', 'y'])).toEqual(['x/x', 'y/y']);
  }, 60_000);

  it('leaves a bundle that does not import it as it was (native async functions)', async () => {
    const dir = await project(
      'no-als',
      'export default { async fetch() { await null; return new Response("ok"); } };\n',
    );
    const code = await readFile((await buildProject({ dir })).bundlePath, 'utf8');
    expect(code).toMatch(/\basync\b/);
    expect(code).toMatch(/\bawait\b/);
  }, 60_000);

  it('refuses any other name imported from it, naming it and the importing file', async () => {
    const dir = await project(
      'als-resource',
      "import { AsyncResource } from 'node:async_hooks';\nexport default () => new Response(String(AsyncResource));\n",
    );
    const e = await failure(buildProject({ dir }));
    expect(e.code).toBe('FLOTILLA_ERR_BUILD');
    expect(e.message).toBe(
      'flotilla build: als-resource: imports "AsyncResource" from "node:async_hooks", which bundles ' +
        'cannot use (the isolate provides only AsyncLocalStorage from it): src/app.ts',
    );
  }, 60_000);

  it('refuses a name read from a namespace import of it', async () => {
    const dir = await project(
      'als-namespace',
      "import * as hooks from 'async_hooks';\nexport default () => new Response(String(hooks.executionAsyncId()));\n",
    );
    const e = await failure(buildProject({ dir }));
    expect(e.message).toBe(
      'flotilla build: als-namespace: imports "executionAsyncId" from "node:async_hooks", which bundles ' +
        'cannot use (the isolate provides only AsyncLocalStorage from it): src/app.ts',
    );
  }, 60_000);
});
