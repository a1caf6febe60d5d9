import { cp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildProgress, buildProject } from './build.ts';
import { BuildError } from './build-errors.ts';
import { type Scratch, scratch } from './build-test-support.ts';
import { describeDetection, detectFramework } from './detect.ts';
import { PROJECT_FRAMEWORKS } from './detect-frameworks.ts';

/** One minimal project per framework (package.json and config files only). */
const FRAMEWORK_FIXTURES = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'frameworks');

let s: Scratch;

beforeAll(async () => {
  s = await scratch();
});

afterAll(async () => {
  await s.cleanup();
});

describe('detectFramework on the fixture projects', () => {
  const wins = (label: string) => `${label} renders with it, and the meta-framework wins`;
  it.each([
    [
      'next',
      [
        'package.json depends on next 16.5.0',
        'found next.config.ts',
        `package.json also depends on react 19.3.1, react-dom 19.3.1: ${wins('Next.js')}`,
      ],
    ],
    [
      'nuxt',
      [
        'package.json depends on nuxt ^4.6.4',
        'found nuxt.config.ts',
        `package.json also depends on vue ^3.5.45: ${wins('Nuxt')}`,
      ],
    ],
    [
      'angular',
      [
        'package.json depends on @angular/ssr ^22.2.7',
        'package.json depends on @angular/core ^22.2.6',
        'found angular.json',
      ],
    ],
    [
      'sveltekit',
      ['package.json depends on @sveltejs/kit ^3.4.1 (devDependencies)', 'found svelte.config.js'],
    ],
    [
      'react-router',
      [
        'package.json depends on @react-router/dev 8.5.3 (devDependencies)',
        'found react-router.config.ts',
        `package.json also depends on react 19.3.1, react-dom 19.3.1: ${wins('React Router (framework mode)')}`,
      ],
    ],
    ['react', ['package.json depends on react 19.3.1', 'package.json depends on react-dom 19.3.1']],
    [
      'vue',
      ['package.json depends on vue 3.5.45', 'package.json depends on @vue/server-renderer 3.5.45'],
    ],
    [
      'none',
      [
        'package.json depends on none of next, nuxt, @angular/ssr, @angular/core, @sveltejs/kit, ' +
          '@react-router/dev, react, react-dom, vue, @vue/server-renderer',
      ],
    ],
  ] as const)('%s', async (framework, evidence) => {
    const detection = await detectFramework(join(FRAMEWORK_FIXTURES, framework));
    expect(detection.framework).toBe(framework);
    expect(detection.evidence).toEqual(evidence);
    expect(detection.problem).toBeUndefined();
  });

  it('has a fixture for every framework a config may name', async () => {
    const folders = (await readdir(FRAMEWORK_FIXTURES, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.sort()).toEqual([...PROJECT_FRAMEWORKS].sort());
  });
});

describe('detectFramework', () => {
  it('says an empty project is empty', async () => {
    const dir = await s.project('empty', {});
    expect(await detectFramework(dir)).toEqual({
      framework: undefined,
      evidence: [],
      problem: `no package.json and no framework config file in ${dir}`,
      candidates: [],
    });
  });

  it('says a project with two meta-frameworks is ambiguous, with the evidence of both', async () => {
    const dir = await s.project('two-metas', {
      'package.json': { dependencies: { next: '16.5.0', react: '19.3.1' } },
      'nuxt.config.ts': 'export default {};\n',
    });
    const detection = await detectFramework(dir);
    expect(detection).toEqual({
      framework: undefined,
      evidence: [
        'package.json depends on next 16.5.0',
        'found nuxt.config.ts',
        'package.json depends on react 19.3.1',
      ],
      problem: 'more than one framework: next (Next.js) and nuxt (Nuxt)',
      candidates: ['next', 'nuxt', 'react'],
    });
    expect(describeDetection(detection)).toBe(
      'no framework detected (more than one framework: next (Next.js) and nuxt (Nuxt)): ' +
        'package.json depends on next 16.5.0; found nuxt.config.ts; package.json depends on react 19.3.1',
    );
  });

  it('says React and Vue without a meta-framework are ambiguous', async () => {
    const dir = await s.project('react-and-vue', {
      'package.json': { dependencies: { react: '19.3.1' }, devDependencies: { vue: '3.5.45' } },
    });
    const detection = await detectFramework(dir);
    expect(detection.framework).toBeUndefined();
    expect(detection.problem).toBe(
      'more than one framework: react (React with the Flotilla Router) and vue (Vue with the Flotilla Router)',
    );
  });

  it('detects a meta-framework from its config file alone', async () => {
    const dir = await s.project('config-only', {
      'react-router.config.ts': 'export default {};\n',
    });
    expect(await detectFramework(dir)).toEqual({
      framework: 'react-router',
      evidence: ['found react-router.config.ts'],
      candidates: ['react-router'],
    });
  });

  it('takes React Router without @react-router/dev (library mode) for plain React', async () => {
    const dir = await s.project('rr-library', {
      'package.json': { dependencies: { react: '19.3.1', 'react-router': '8.5.3' } },
    });
    expect((await detectFramework(dir)).framework).toBe('react');
  });

  it('says when an Angular app cannot render on a server yet', async () => {
    const dir = await s.project('angular-spa', {
      'package.json': { dependencies: { '@angular/core': '22.2.6' } },
      'angular.json': '{}',
    });
    expect((await detectFramework(dir)).evidence).toEqual([
      'package.json depends on @angular/core 22.2.6',
      'found angular.json',
      'package.json has no @angular/ssr: the app does not render on a server yet (ng add @angular/ssr)',
    ]);
  });

  it('names the line and column of a malformed package.json', async () => {
    const dir = await s.project('malformed', { 'package.json': '{\n  "name": "x",\n}\n' });
    const error = await detectFramework(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildError);
    expect((error as BuildError).code).toBe('FLOTILLA_ERR_INVALID_OPTION');
    expect((error as BuildError).message).toMatch(/package\.json:3:1: invalid JSON: /);
  });

  it('names the field of package.json that has the wrong type', async () => {
    const dir = await s.project('bad-deps', { 'package.json': { devDependencies: ['react'] } });
    await expect(detectFramework(dir)).rejects.toThrow(
      /package\.json: field "devDependencies" must be an object of package name → version \(got an array\)/,
    );
  });

  it('refuses a directory that does not exist', async () => {
    await expect(detectFramework(join(s.dir, 'nope'))).rejects.toThrow(
      /nope: cannot read the project directory: ENOENT/,
    );
  });
});

describe('flotilla build without "framework"', () => {
  const HANDLER = 'export default { fetch: () => new Response("ok") };\n';

  async function build(dir: string) {
    const progress: BuildProgress[] = [];
    const result = await buildProject({ dir, onProgress: (p) => progress.push(p) }).then(
      (r) => r,
      (e: unknown) => e as BuildError,
    );
    return { result, progress: progress.map((p) => `${p.phase}: ${p.detail}`) };
  }

  it('detects it, says what it found and why, and builds', async () => {
    const dir = await s.project('detect-none', {
      'flotilla.config.json': { name: 'handler', entry: 'src/app.ts' },
      'package.json': { name: 'handler', devDependencies: { typescript: '7.0.2' } },
      'src/app.ts': HANDLER,
    });
    const { result, progress } = await build(dir);
    expect(result).not.toBeInstanceOf(Error);
    expect(result).toMatchObject({ manifest: { name: 'handler', framework: 'none' } });
    expect(progress).toContain(
      'config: framework "none" (a fetch handler or Router without a UI framework), detected: ' +
        'package.json depends on none of next, nuxt, @angular/ssr, @angular/core, @sveltejs/kit, ' +
        '@react-router/dev, react, react-dom, vue, @vue/server-renderer',
    );
  });

  it('builds a detected angular app with its own Angular build (here: says to install it first)', async () => {
    const dir = join(s.dir, 'detected-angular');
    await cp(join(FRAMEWORK_FIXTURES, 'angular'), dir, { recursive: true });
    await writeFile(join(dir, 'flotilla.config.json'), JSON.stringify({ name: 'angular-shop' }));
    const { result, progress } = await build(dir);
    expect(progress).toContain(
      'config: framework "angular" (Angular SSR), detected: package.json depends on @angular/ssr ^22.2.7; ' +
        'package.json depends on @angular/core ^22.2.6; found angular.json',
    );
    expect(result).toBeInstanceOf(BuildError);
    expect((result as BuildError).message).toMatch(
      /^flotilla build: angular-shop: framework "angular" needs the Angular CLI, and .*node_modules\/@angular\/cli does not exist: install the app's dependencies/,
    );
  });

  it("builds a detected nuxt app with Nuxt's own build, which needs Nuxt installed", async () => {
    const dir = join(s.dir, 'detected-nuxt');
    await cp(join(FRAMEWORK_FIXTURES, 'nuxt'), dir, { recursive: true });
    await writeFile(join(dir, 'flotilla.config.json'), JSON.stringify({ name: 'nuxt-shop' }));
    const { result, progress } = await build(dir);
    expect(progress.join('\n')).toContain(
      'config: framework "nuxt" (Nuxt), detected: package.json depends on nuxt ^4.6.4; found nuxt.config.ts',
    );
    expect(result).toBeInstanceOf(BuildError);
    expect((result as BuildError).message).toMatch(
      /flotilla build: nuxt-shop: framework "nuxt" needs Nuxt, and .*node_modules\/nuxt does not exist: install the app's dependencies/,
    );
  });
});
