import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildError } from './build-errors.ts';
import { type Scratch, scratch } from './build-test-support.ts';
import { DEFAULT_MAX_BUNDLE_BYTES, entryApp, loadProjectConfig } from './project-config.ts';

let s: Scratch;

beforeAll(async () => {
  s = await scratch();
});

afterAll(async () => {
  await s.cleanup();
});

const APP = 'export default () => new Response("ok");\n';

async function configError(
  name: string,
  files: Record<string, string | object>,
): Promise<BuildError> {
  const dir = await s.project(name, { 'src/app.ts': APP, ...files });
  const error = await loadProjectConfig(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BuildError);
  const e = error as BuildError;
  expect(e.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
  expect(e.message).toContain('flotilla.config.json');
  return e;
}

describe('loadProjectConfig', () => {
  it('reads a config, applying defaults and resolving paths', async () => {
    const dir = await s.project('ok', {
      'flotilla.config.json': {
        name: 'shop',
        entry: 'src/app.ts',
        framework: 'react',
        backends: { api: 'HTTP://API.Example:80/', cms: 'https://cms.example:8443' },
        define: { __X__: 'true' },
      },
      'src/app.ts': APP,
      'public/app.css': 'a{}',
    });
    const config = await loadProjectConfig(dir);
    expect(config).toEqual({
      dir,
      file: join(dir, 'flotilla.config.json'),
      name: 'shop',
      entry: join(dir, 'src', 'app.ts'),
      framework: 'react',
      backends: { api: 'http://api.example', cms: 'https://cms.example:8443' },
      staticDir: join(dir, 'public'),
      maxBundleBytes: DEFAULT_MAX_BUNDLE_BYTES,
      define: { __X__: 'true' },
    });
  });

  it('reads the limits an app asks for; none set is no limits', async () => {
    const dir = await s.project('limits', {
      'flotilla.config.json': {
        name: 'a',
        entry: 'src/app.ts',
        framework: 'none',
        limits: { heapMb: 64, cpuMs: 200 },
      },
      'src/app.ts': APP,
    });
    expect((await loadProjectConfig(dir)).limits).toEqual({ cpuMs: 200, heapMb: 64 });
    const none = await s.project('limits-none', {
      'flotilla.config.json': { name: 'a', entry: 'src/app.ts', framework: 'none', limits: {} },
      'src/app.ts': APP,
    });
    expect(await loadProjectConfig(none)).not.toHaveProperty('limits');
  });

  it('accepts a "$schema" key (editors complete from flotilla.config.schema.json)', async () => {
    const dir = await s.project('with-schema', {
      'flotilla.config.json': {
        $schema: '../../sdk/flotilla.config.schema.json',
        name: 'a',
        entry: 'src/app.ts',
        framework: 'none',
      },
      'src/app.ts': APP,
    });
    const config = await loadProjectConfig(dir);
    expect(config.name).toBe('a');
    expect(config).not.toHaveProperty('$schema');
  });

  it('has no static directory when "static" is absent and public/ does not exist', async () => {
    const dir = await s.project('no-static', {
      'flotilla.config.json': { name: 'a', entry: 'src/app.ts', framework: 'none' },
      'src/app.ts': APP,
    });
    expect((await loadProjectConfig(dir)).staticDir).toBeUndefined();
  });

  it('uses an explicit "static" directory', async () => {
    const dir = await s.project('static', {
      'flotilla.config.json': { name: 'a', entry: 'src/app.ts', framework: 'none', static: 'www' },
      'src/app.ts': APP,
      'www/index.html': '<p>',
    });
    expect((await loadProjectConfig(dir)).staticDir).toBe(join(dir, 'www'));
  });

  it('says so when flotilla.config.json is missing', async () => {
    const e = await configError('missing', {});
    expect(e.message).toMatch(/flotilla\.config\.json: not found/);
    expect(e.message).toMatch(/with at least "name" \(flotilla init writes one\)/);
  });

  it('detects the framework when the config names none, and says how', async () => {
    const dir = await s.project('detected', {
      'flotilla.config.json': { name: 'shop', entry: 'src/app.ts' },
      'package.json': { name: 'shop', dependencies: { vue: '3.5.45' } },
      'src/app.ts': APP,
    });
    const config = await loadProjectConfig(dir);
    expect(config.framework).toBe('vue');
    expect(config.detected).toEqual({
      framework: 'vue',
      evidence: ['package.json depends on vue 3.5.45'],
      candidates: ['vue'],
    });
    expect(entryApp(config)).toEqual({ framework: 'vue', entry: join(dir, 'src', 'app.ts') });
  });

  it('says so when the framework is absent and ambiguous', async () => {
    const e = await configError('ambiguous', {
      'flotilla.config.json': { name: 'shop', entry: 'src/app.ts' },
      'package.json': { dependencies: { react: '19.3.1', vue: '3.5.45' } },
    });
    expect(e.message).toMatch(
      /has no "framework" and it cannot be detected \(more than one framework: react \(React with the Flotilla Router\) and vue \(Vue with the Flotilla Router\)\): set "framework" to one of/,
    );
  });

  it('names package.json when detection cannot read it', async () => {
    const dir = await s.project('bad-package', {
      'flotilla.config.json': { name: 'shop', entry: 'src/app.ts' },
      'package.json': '{ "dependencies": { "react": 19 } }',
      'src/app.ts': APP,
    });
    const e = await loadProjectConfig(dir).catch((error: unknown) => error as BuildError);
    expect(e).toBeInstanceOf(BuildError);
    expect((e as BuildError).code).toBe('FLOTILLA_ERR_INVALID_OPTION');
    expect((e as BuildError).message).toMatch(
      /^flotilla build: .*package\.json: field "dependencies\.react" must be a version string \(got 19\)$/,
    );
  });

  it('gives the line and column of malformed JSON', async () => {
    const e = await configError('malformed', {
      'flotilla.config.json':
        '{\n  "name": "a",\n  "entry": "src/app.ts"\n  "framework": "none"\n}\n',
    });
    expect(e.message).toMatch(/flotilla\.config\.json:4:3: invalid JSON: /);
  });

  it('names an unknown field and lists the known ones', async () => {
    const e = await configError('unknown', {
      'flotilla.config.json': { name: 'a', entry: 'src/app.ts', framework: 'none', routes: [] },
    });
    expect(e.message).toMatch(
      /field "routes" is not a known field \(known: name, entry, framework,/,
    );
  });

  it('needs no entry for a React Router app (framework mode builds from its app directory)', async () => {
    const dir = await s.project('react-router', {
      'flotilla.config.json': { name: 'rr', framework: 'react-router' },
    });
    const config = await loadProjectConfig(dir);
    expect(config.framework).toBe('react-router');
    expect(config.entry).toBeUndefined();
  });

  it('names a bad framework and the allowed values', async () => {
    const e = await configError('framework', {
      'flotilla.config.json': { name: 'a', entry: 'src/app.ts', framework: 'svelte' },
    });
    expect(e.message).toMatch(
      /field "framework" must be one of react, vue, none, react-router, sveltekit, angular, nuxt, next \(got "svelte"\)/,
    );
  });

  it.each([
    [{ entry: 'src/app.ts', framework: 'none' }, /field "name" is required/],
    [{ name: 'Bad Name', entry: 'src/app.ts', framework: 'none' }, /field "name" must be 1-50/],
    [
      { name: 'a', framework: 'none' },
      /field "entry" is required for a none app: the module whose default export is a Router or a fetch handler/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'react-router' },
      /field "entry" is not used with framework "react-router" \(it builds from its own app directory\): remove it/,
    ],
    [
      { name: 'a', entry: 'src/nope.ts', framework: 'none' },
      /field "entry" names a file that does not exist: .*src\/nope\.ts/,
    ],
    [
      { name: 'a', entry: 'src/app.ts' },
      /has no "framework" and it cannot be detected \(no package\.json and no framework config file in .*\): set "framework" to one of react, vue, none, react-router, sveltekit, angular, nuxt, next/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', backends: [] },
      /field "backends" must be an object/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', backends: { API: 'http://x' } },
      /field "backends\.API" is not a valid backend name/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', backends: { api: 'http://x/v1' } },
      /field "backends\.api" must be an http: or https: origin/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', backends: { api: 'file:///etc' } },
      /field "backends\.api" must be an http: or https: origin/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', static: 'nope' },
      /field "static" names a directory that does not exist/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', maxBundleBytes: 1.5 },
      /field "maxBundleBytes" must be a positive integer/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', define: { X: 1 } },
      /field "define\.X" must be a string of JS source/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', limits: 100 },
      /field "limits" must be an object \(got 100\)/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', limits: { cpuMs: 0 } },
      /field "limits\.cpuMs" must be a positive integer \(got 0\)/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', limits: { wallMs: '5s' } },
      /field "limits\.wallMs" must be a positive integer \(got "5s"\)/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', limits: { heapMb: 7 } },
      /field "limits\.heapMb" must be at least 8 \(got 7\)/,
    ],
    [
      { name: 'a', entry: 'src/app.ts', framework: 'none', limits: { memoryMb: 64 } },
      /field "limits\.memoryMb" is not a known field \(known: cpuMs, wallMs, heapMb, outputBytes, bundleBytes, backendResponseBytes\)/,
    ],
  ])('rejects %j', async (config, message) => {
    const e = await configError(`bad-${Math.random().toString(36).slice(2)}`, {
      'flotilla.config.json': config,
    });
    expect(e.message).toMatch(message);
  });

  it('rejects a config that is not an object', async () => {
    const e = await configError('array', { 'flotilla.config.json': '[]' });
    expect(e.message).toMatch(/must hold a JSON object/);
  });
});
