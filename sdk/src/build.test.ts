import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './build.ts';
import type { BundleManifest, FetchHandler } from './types.ts';

const REQUEST_URL_MODULE = join(import.meta.dirname, 'request-url.ts');

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-sdk-build-'));
  await writeFile(
    join(dir, 'greeting.ts'),
    "export function greeting(name: string): string { return 'hello ' + name; }\n",
  );
  await writeFile(
    join(dir, 'app.ts'),
    [
      `import { parseRequestUrl } from ${JSON.stringify(REQUEST_URL_MODULE)};`,
      "import { greeting } from './greeting.ts';",
      'export default {',
      '  fetch(request: Request): Response {',
      '    const { pathname, query } = parseRequestUrl(request.url);',
      "    return new Response(greeting(query.name ?? 'nobody') + ' at ' + pathname, {",
      "      status: pathname === '/' ? 200 : 404,",
      "      headers: { 'content-type': 'text/plain; charset=utf-8' },",
      '    });',
      '  },',
      '};',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'fn-app.ts'),
    "export default (request: Request) => new Response('fn ' + request.method);\n",
  );
  await writeFile(
    join(dir, 'uses-fs.ts'),
    [
      "import { readFileSync } from 'node:fs';",
      "export default () => new Response(readFileSync('/etc/hostname', 'utf8'));",
    ].join('\n'),
  );
  await writeFile(join(dir, 'no-default.ts'), 'export const handler = () => new Response("x");\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Evaluates a bundle in a fresh V8 context the way the isolate does, capturing the handler. */
function evaluateBundle(code: string): FetchHandler {
  const served: FetchHandler[] = [];
  runInNewContext(code, {
    Flotilla: { serve: (handler: FetchHandler) => served.push(handler) },
    Request,
    Response,
    Headers,
    TextEncoder,
    TextDecoder,
  });
  expect(served).toHaveLength(1);
  const handler = served[0];
  if (!handler) throw new Error('no handler served');
  return handler;
}

async function call(handler: FetchHandler, request: Request): Promise<Response> {
  return typeof handler === 'function' ? handler(request) : handler.fetch(request);
}

describe('buildApp', () => {
  it('writes bundle.js and a manifest whose hash matches it', async () => {
    const outDir = join(dir, 'out-app');
    const result = await buildApp({
      entry: join(dir, 'app.ts'),
      outDir,
      name: 'hello',
      framework: 'none',
      routes: [{ method: 'GET', path: '/' }],
    });
    expect(result.bundlePath).toBe(join(outDir, 'bundle.js'));
    expect(result.manifestPath).toBe(join(outDir, 'manifest.json'));

    const bundle = await readFile(result.bundlePath);
    const manifest = JSON.parse(await readFile(result.manifestPath, 'utf8')) as BundleManifest;
    expect(manifest).toEqual(result.manifest);
    expect(manifest.manifestVersion).toBe(1);
    expect(manifest.name).toBe('hello');
    expect(manifest.framework).toBe('none');
    expect(manifest.bundleHash).toBe(createHash('sha256').update(bundle).digest('hex'));
    expect(manifest.bundleBytes).toBe(bundle.byteLength);
    expect(new Date(manifest.builtAt).toISOString()).toBe(manifest.builtAt);
    expect(manifest.routes).toEqual([{ method: 'GET', path: '/' }]);
    expect(manifest.backends).toEqual({});
    expect(await readdir(outDir)).toEqual(['bundle.js', 'manifest.json']);
  });

  it('produces a script that serves the default export', async () => {
    const { bundlePath } = await buildApp({
      entry: join(dir, 'app.ts'),
      outDir: join(dir, 'out-serve'),
      name: 'hello',
      framework: 'none',
    });
    const code = await readFile(bundlePath, 'utf8');
    expect(code).not.toMatch(/\brequire\(/);
    expect(code).not.toMatch(/^\s*(import|export)\b/m);
    const handler = evaluateBundle(code);

    const ok = await call(handler, new Request('http://hello.localhost:3000/?name=caf%C3%A9'));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await ok.text()).toBe('hello café at /');

    const missing = await call(handler, new Request('http://hello.localhost:3000/nope'));
    expect(missing.status).toBe(404);
  });

  it('accepts a plain function as the handler', async () => {
    const { bundlePath } = await buildApp({
      entry: join(dir, 'fn-app.ts'),
      outDir: join(dir, 'out-fn'),
      name: 'fn',
      framework: 'none',
    });
    const handler = evaluateBundle(await readFile(bundlePath, 'utf8'));
    expect(typeof handler).toBe('function');
    const res = await call(handler, new Request('http://x/', { method: 'POST' }));
    expect(await res.text()).toBe('fn POST');
  });

  it('fails with a readable error naming an imported Node built-in', async () => {
    const outDir = join(dir, 'out-fs');
    const failure = buildApp({
      entry: join(dir, 'uses-fs.ts'),
      outDir,
      name: 'uses-fs',
      framework: 'none',
    });
    await expect(failure).rejects.toThrow(Error);
    await expect(failure).rejects.toThrow(/node:fs/);
    await expect(failure).rejects.toThrow(/Could not resolve "node:fs"/);
    await expect(failure).rejects.toThrow(/uses-fs\.ts/);
    await expect(readdir(outDir)).rejects.toThrow();
  });

  it('fails when the entry has no default export', async () => {
    await expect(
      buildApp({
        entry: join(dir, 'no-default.ts'),
        outDir: join(dir, 'out-nodefault'),
        name: 'nodefault',
        framework: 'none',
      }),
    ).rejects.toThrow(/default/);
  });

  it('fails when the bundle is over maxBundleBytes, naming size and cap', async () => {
    const outDir = join(dir, 'out-big');
    const failure = buildApp({
      entry: join(dir, 'app.ts'),
      outDir,
      name: 'big',
      framework: 'none',
      maxBundleBytes: 16,
    });
    await expect(failure).rejects.toThrow(/is \d+ bytes, over the cap of 16 bytes/);
    await expect(readdir(outDir)).rejects.toThrow();
  });

  it('applies extra defines but keeps NODE_ENV production', async () => {
    await writeFile(
      join(dir, 'defines.ts'),
      [
        'declare const __FLAG__: boolean;',
        'declare const process: { env: { NODE_ENV: string } };',
        "export default () => new Response(__FLAG__ + ' ' + process.env.NODE_ENV);",
      ].join('\n'),
    );
    const { bundlePath } = await buildApp({
      entry: join(dir, 'defines.ts'),
      outDir: join(dir, 'out-defines'),
      name: 'defines',
      framework: 'none',
      define: { __FLAG__: 'true', 'process.env.NODE_ENV': '"development"' },
    });
    const handler = evaluateBundle(await readFile(bundlePath, 'utf8'));
    expect(await (await call(handler, new Request('http://x/'))).text()).toBe('true production');
  });

  it.each([
    [{ entry: '' }, /option "entry"/],
    [{ entry: 'does-not-exist.ts' }, /option "entry": file not found/],
    [{ outDir: '' }, /option "outDir"/],
    [{ name: 'Bad Name' }, /option "name"/],
    [{ framework: 'svelte' }, /option "framework" must be one of react, vue, none/],
    [{ routes: 'nope' }, /option "routes"/],
    [{ routes: [{ method: 'get', path: '/' }] }, /option "routes\[0\]\.method"/],
    [{ routes: [{ method: 'GET', path: 'x' }] }, /option "routes\[0\]\.path"/],
    [{ maxBundleBytes: 0 }, /option "maxBundleBytes"/],
    [{ define: { X: 1 } }, /option "define\.X"/],
  ])('rejects invalid options %j', async (override, message) => {
    const options = {
      entry: join(dir, 'app.ts'),
      outDir: join(dir, 'out-invalid'),
      name: 'ok',
      framework: 'none',
      ...override,
    } as unknown as Parameters<typeof buildApp>[0];
    await expect(buildApp(options)).rejects.toThrow(message);
  });
});
