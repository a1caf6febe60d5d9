/**
 * `flotilla init` as a user runs it: the real CLI, its own process, in a
 * copy of each framework fixture (`test/fixtures/frameworks/`) and in empty
 * directories it scaffolds; then `flotilla build` of what it scaffolded, and
 * the built bundle rendered in a real isolate.
 *
 * The scaffolded apps live under `test/.tmp/` with `node_modules` holding
 * symlinks to the workspace's SDK and to the React and Vue the repository
 * uses (installing the packed tarballs is the packaging suite's job).
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Manifest } from '@flotilla/manifest';
import { DeploymentIsolate, type SandboxRequest } from '@flotilla/runtime';
import { runCli } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..');
const FIXTURES = join(REPO, 'test', 'fixtures', 'frameworks');
const SCHEMA = './node_modules/@flotilla/sdk/flotilla.config.schema.json';
/** Slow machines: a build spawns esbuild and evaluates the bundle. */
const CLI = { timeoutMs: 120_000 };
/** Some tests run the CLI half a dozen times, a few seconds each on a busy machine. */
const TEST_TIMEOUT_MS = 300_000;

let work: string;
let version: string;
/** The versions the repository uses (the SDK's dev dependencies), which the templates pin. */
let repoVersions: Record<string, string>;

beforeAll(async () => {
  await mkdir(join(REPO, 'test', '.tmp'), { recursive: true });
  work = await mkdtemp(join(REPO, 'test', '.tmp', 'init-'));
  version = JSON.parse(await readFile(join(REPO, 'cli', 'package.json'), 'utf8')).version;
  repoVersions = JSON.parse(
    await readFile(join(REPO, 'sdk', 'package.json'), 'utf8'),
  ).devDependencies;
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function readJson(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(file, 'utf8'));
}

/** A fresh copy of fixture `framework` under the work directory. */
async function copyFixture(framework: string, name = framework): Promise<string> {
  const dir = join(work, name);
  await cp(join(FIXTURES, framework), dir, { recursive: true });
  return dir;
}

describe('flotilla init in an existing project', { timeout: TEST_TIMEOUT_MS }, () => {
  it.each([
    {
      framework: 'next',
      name: 'next-shop',
      evidence: ['package.json depends on next 16.5.0', 'found next.config.ts'],
    },
    {
      framework: 'nuxt',
      name: 'nuxt-shop',
      evidence: ['package.json depends on nuxt ^4.6.4', 'found nuxt.config.ts'],
    },
    {
      framework: 'angular',
      name: 'angular-shop',
      evidence: ['package.json depends on @angular/ssr ^22.2.7', 'found angular.json'],
    },
    {
      framework: 'sveltekit',
      name: 'sveltekit-shop',
      evidence: [
        'package.json depends on @sveltejs/kit ^3.4.1 (devDependencies)',
        'found svelte.config.js',
      ],
    },
    {
      framework: 'react-router',
      name: 'react-router-shop',
      evidence: [
        'package.json depends on @react-router/dev 8.5.3 (devDependencies)',
        'found react-router.config.ts',
      ],
    },
    {
      framework: 'react',
      name: 'react-storefront',
      entry: 'src/app.tsx',
      static: 'public',
      evidence: [
        'package.json depends on react 19.3.1',
        'package.json depends on react-dom 19.3.1',
      ],
    },
    {
      framework: 'vue',
      name: 'vue-storefront',
      entry: 'src/index.ts',
      evidence: ['package.json depends on vue 3.5.45'],
    },
    {
      framework: 'none',
      name: 'edge-handler',
      entry: 'src/app.ts',
      evidence: ['package.json depends on none of next, nuxt, '],
    },
  ])('$framework: detects it, writes the config, says why, adds the SDK', async (expected) => {
    const dir = await copyFixture(expected.framework);
    const before = await readJson(join(dir, 'package.json'));
    const res = await runCli(['init', '--dir', dir], CLI);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);

    expect(await readJson(join(dir, 'flotilla.config.json'))).toEqual({
      $schema: SCHEMA,
      name: expected.name,
      ...(expected.entry ? { entry: expected.entry } : {}),
      framework: expected.framework,
      backends: {},
      ...(expected.static ? { static: expected.static } : {}),
    });
    const label = res.stdout.split('\n').find((line) => line.startsWith('framework: '));
    expect(label).toMatch(new RegExp(`^framework: ${expected.framework} \\(.+\\), detected$`));
    for (const evidence of expected.evidence) expect(res.stdout).toContain(`  - ${evidence}`);
    expect(res.stdout).toContain('wrote flotilla.config.json');
    expect(res.stdout).toContain('backends: none yet');

    // The SDK (and the CLI) are added when missing, nothing else changes.
    const after = await readJson(join(dir, 'package.json'));
    const hadSdk = Object.hasOwn((before.dependencies ?? {}) as object, '@flotilla/sdk');
    expect(after).toEqual({
      ...before,
      dependencies: {
        ...(before.dependencies as object),
        ...(hadSdk ? {} : { '@flotilla/sdk': `^${version}` }),
      },
      devDependencies: { ...(before.devDependencies as object), '@flotilla/cli': `^${version}` },
    });
    expect(res.stdout).toMatch(
      hadSdk
        ? /added @flotilla\/cli \S+ \(devDependencies\) to package\.json: run npm install/
        : /added @flotilla\/sdk \S+ \(dependencies\), @flotilla\/cli \S+ \(devDependencies\) to package\.json: run npm install/,
    );
    expect(res.stdout).toMatch(
      /Next steps:\n(?: {2}cd .*\n)?(?: {2}create .*\n)? {2}npm install\n/,
    );
  });

  it('says what to create when a Router app has no entry yet', async () => {
    const none = await runCli(['init', '--dir', await copyFixture('none', 'none-entry')], CLI);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain(
      'entry: src/app.ts does not exist yet: create it; its default export is a Router from @flotilla/sdk',
    );
    expect(none.stdout).toMatch(
      / {2}create src\/app\.ts\n {2}npm install\n {2}npx flotilla dev\n$/,
    );
  });

  it('prefers src/app.* over src/index.* and prints one JSON document with --json', async () => {
    const dir = await copyFixture('react', 'react-json');
    await writeFile(join(dir, 'src', 'index.tsx'), 'export default {};\n');
    const res = await runCli(['init', '--dir', dir, '--json'], CLI);
    expect(res.code).toBe(0);
    const result = JSON.parse(res.stdout);
    expect(result).toMatchObject({
      dir,
      framework: 'react',
      detected: {
        evidence: [
          'package.json depends on react 19.3.1',
          'package.json depends on react-dom 19.3.1',
        ],
      },
      config: { name: 'react-storefront', entry: 'src/app.tsx', static: 'public' },
      configFile: join(dir, 'flotilla.config.json'),
      replaced: false,
      entry: { path: 'src/app.tsx', exists: true },
      added: [
        { name: '@flotilla/sdk', range: `^${version}`, field: 'dependencies' },
        { name: '@flotilla/cli', range: `^${version}`, field: 'devDependencies' },
      ],
    });
    expect(result.nextSteps.slice(-2)).toEqual(['npm install', 'npx flotilla dev']);
  });

  it('never overwrites flotilla.config.json without --force (exit 5, naming the file)', async () => {
    const dir = await copyFixture('react', 'react-force');
    expect((await runCli(['init', '--dir', dir], CLI)).code).toBe(0);
    const edited = '{ "name": "mine", "entry": "src/app.tsx", "framework": "react" }\n';
    await writeFile(join(dir, 'flotilla.config.json'), edited);
    const packageJson = await readFile(join(dir, 'package.json'), 'utf8');

    const refused = await runCli(['init', '--dir', dir], CLI);
    expect(refused.code).toBe(5);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toBe(
      `flotilla: ${join(dir, 'flotilla.config.json')} already exists: flotilla init does not overwrite it (--force replaces it)\n`,
    );
    expect(await readFile(join(dir, 'flotilla.config.json'), 'utf8')).toBe(edited);
    expect(await readFile(join(dir, 'package.json'), 'utf8')).toBe(packageJson);

    const forced = await runCli(['init', '--dir', dir, '--force', '--name', 'storefront'], CLI);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('replaced flotilla.config.json');
    expect(forced.stdout).not.toContain('added @flotilla');
    expect(await readJson(join(dir, 'flotilla.config.json'))).toMatchObject({
      name: 'storefront',
      framework: 'react',
    });
    expect(await readFile(join(dir, 'package.json'), 'utf8')).toBe(packageJson);
  });

  it('says when it cannot tell the framework, and takes --framework', async () => {
    const dir = join(work, 'ambiguous');
    await mkdir(dir);
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'both', dependencies: { react: '19.3.1', vue: '3.5.45' } }),
    );
    const res = await runCli(['init', '--dir', dir], CLI);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      `flotilla: cannot tell the framework of ${dir}: more than one framework: react (React with the Flotilla Router) and vue (Vue with the Flotilla Router) (package.json depends on react 19.3.1; package.json depends on vue 3.5.45); name it with --framework (one of react, vue, none, react-router, sveltekit, angular, nuxt, next)`,
    );
    const chosen = await runCli(['init', '--dir', dir, '--framework', 'vue'], CLI);
    expect(chosen.code).toBe(0);
    expect(chosen.stdout).toContain(
      'framework: vue (Vue with the Flotilla Router), from --framework',
    );
    expect(await readJson(join(dir, 'flotilla.config.json'))).toMatchObject({
      name: 'both',
      framework: 'vue',
      entry: 'src/app.ts',
    });
  });

  it('refuses bad input with exit 2, saying what it expected', async () => {
    const stray = join(work, 'stray');
    await mkdir(stray);
    await writeFile(join(stray, 'notes.txt'), 'hello\n');
    const notEmpty = await runCli(['init', '--dir', stray], CLI);
    expect(notEmpty.code).toBe(2);
    expect(notEmpty.stderr).toContain(
      `has no package.json but is not empty (notes.txt): flotilla init expects an existing project (a directory with a package.json) or an empty directory to scaffold a new app in`,
    );
    expect(await readdir(stray)).toEqual(['notes.txt']);

    const project = await copyFixture('vue', 'vue-template');
    const template = await runCli(['init', '--dir', project, '--template', 'react'], CLI);
    expect(template.code).toBe(2);
    expect(template.stderr).toContain('already has a package.json');

    for (const [args, message] of [
      [
        ['--template', 'svelte'],
        'option "--template" must be one of react, vue, none (got "svelte")',
      ],
      [['--name', 'My App'], 'option "--name" "My App" must be 1-50 lower-case letters'],
      [
        ['--framework', 'remix'],
        'option "--framework" must be one of react, vue, none, react-router',
      ],
    ] as const) {
      const res = await runCli(['init', '--dir', join(work, 'never-made'), ...args], CLI);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(message);
    }
    await expect(readdir(join(work, 'never-made'))).rejects.toThrow(/ENOENT/);

    const malformed = join(work, 'malformed');
    await mkdir(malformed);
    await writeFile(join(malformed, 'package.json'), '{ "name": "x", }');
    const bad = await runCli(['init', '--dir', malformed], CLI);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/package\.json:1:\d+: invalid JSON: /);
  });

  it('lists itself in --help', async () => {
    const res = await runCli(['init', '--help'], CLI);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(
      'flotilla init [--dir <dir>] [--name <app>] [--template react|vue|none] [--framework <f>] [--force]',
    );
  });
});

describe('flotilla init in an empty directory', { timeout: TEST_TIMEOUT_MS }, () => {
  /** What each template's package.json depends on, with the repository's versions. */
  const DEPENDENCIES: Record<string, { dependencies: string[]; devDependencies: string[] }> = {
    react: {
      dependencies: ['react', 'react-dom'],
      devDependencies: ['@types/react', '@types/react-dom'],
    },
    vue: { dependencies: ['@vue/server-renderer', 'vue'], devDependencies: [] },
    none: { dependencies: [], devDependencies: [] },
  };

  async function filesUnder(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
      .sort();
  }

  it.each(['react', 'vue', 'none'])(
    'scaffolds a Router app from the %s template',
    async (template) => {
      const dir = join(work, `scaffold-${template}`);
      // An empty directory may already be a git repository.
      await mkdir(join(dir, '.git'), { recursive: true });
      await writeFile(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
      const args = template === 'react' ? [] : ['--template', template];
      const res = await runCli(['init', '--dir', dir, ...args], CLI);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);

      const source = template === 'react' ? 'src/app.tsx' : 'src/app.ts';
      expect(await filesUnder(dir)).toEqual(
        [
          '.git/HEAD',
          '.gitignore',
          'flotilla.config.json',
          'package.json',
          'public/styles.css',
          source,
        ].sort(),
      );
      const pkg = await readJson(join(dir, 'package.json'));
      const pinned = (names: string[]) =>
        Object.fromEntries(names.map((n) => [n, repoVersions[n]]));
      expect(pkg).toMatchObject({
        name: `scaffold-${template}`,
        private: true,
        type: 'module',
        dependencies: {
          '@flotilla/sdk': `^${version}`,
          ...pinned(DEPENDENCIES[template]?.dependencies ?? []),
        },
        devDependencies: {
          '@flotilla/cli': `^${version}`,
          ...pinned(DEPENDENCIES[template]?.devDependencies ?? []),
        },
      });
      for (const n of Object.values(pinned(DEPENDENCIES[template]?.dependencies ?? []))) {
        expect(n).toMatch(/^\d+\.\d+\.\d+$/);
      }
      expect(await readJson(join(dir, 'flotilla.config.json'))).toEqual({
        $schema: SCHEMA,
        name: `scaffold-${template}`,
        entry: source,
        framework: template,
        backends: {},
        static: 'public',
      });
      for (const file of await filesUnder(dir)) {
        expect(await readFile(join(dir, file), 'utf8')).not.toContain('{{');
      }
      expect(res.stdout).toContain(
        `scaffolded an app from the ${template} template in ${dir}: .gitignore, public/styles.css, package.json, ${source}`,
      );
      expect(res.stdout).toContain(`framework: ${template} (`);
      expect(res.stdout).toMatch(
        /Next steps:\n {2}cd .*scaffold-\w+\n {2}npm install\n {2}npx flotilla dev\n$/,
      );
    },
  );
});

describe('flotilla build of a scaffolded app', { timeout: TEST_TIMEOUT_MS }, () => {
  /** Links what the template depends on: the workspace SDK, and React and Vue as the SDK has them. */
  async function linkDependencies(dir: string): Promise<void> {
    const pkg = await readJson(join(dir, 'package.json'));
    for (const name of Object.keys(pkg.dependencies as object)) {
      const target =
        name === '@flotilla/sdk' ? join(REPO, 'sdk') : join(REPO, 'sdk', 'node_modules', name);
      const link = join(dir, 'node_modules', name);
      await mkdir(dirname(link), { recursive: true });
      await symlink(target, link, 'dir');
    }
  }

  function request(path: string): SandboxRequest {
    return {
      method: 'GET',
      url: `http://127.0.0.1:3000${path}`,
      headers: [['x-forwarded-prefix', '/shop']],
      body: null,
    };
  }

  it.each(['react', 'vue', 'none'])(
    '%s: builds, and its page renders in an isolate',
    async (template) => {
      const dir = join(work, `build-${template}`);
      const init = await runCli(
        ['init', '--dir', dir, '--template', template, '--name', 'shop'],
        CLI,
      );
      expect(init.code).toBe(0);
      await linkDependencies(dir);
      if (template === 'none') {
        // Without "framework", the build detects it and says so.
        const config = await readJson(join(dir, 'flotilla.config.json'));
        delete config.framework;
        await writeFile(join(dir, 'flotilla.config.json'), JSON.stringify(config));
      }

      const build = await runCli(['build', '--dir', dir], CLI);
      expect(build.stderr).toContain('build: write wrote');
      expect(build.code).toBe(0);
      // React and Vue pages hydrate: their browser code is two more assets; a handler ships none.
      const assetCount = template === 'none' ? 2 : 4;
      expect(build.stdout).toMatch(
        new RegExp(`^built shop into .*: bundle .*, 2 routes, ${assetCount} assets`),
      );
      if (template === 'none') {
        expect(build.stderr).toContain(
          'build: config framework "none" (a fetch handler or Router without a UI framework), detected: package.json depends on none of',
        );
      }

      const out = join(dir, '.flotilla', 'build');
      const manifest = (await readJson(join(out, 'manifest.json'))) as unknown as Manifest;
      expect(manifest.framework).toBe(template);
      expect(manifest.routes.map((r) => r.criteria.path)).toContain('/');
      const home = manifest.routes.find((r) => r.criteria.path === '/');
      expect(home?.cache?.edge).toMatchObject({
        maxAgeSeconds: 60,
        staleWhileRevalidateSeconds: 300,
      });
      const stylesheet = manifest.assets.find((a) => a.permanent && a.path.endsWith('.css'));
      expect(stylesheet?.path).toMatch(/^\/assets\/styles\.[0-9a-f]+\.css$/);

      const code = await readFile(join(out, 'bundle.js'), 'utf8');
      const iso = await DeploymentIsolate.load({
        deploymentId: `init-${template}`,
        code,
        bundleHash: createHash('sha256').update(code).digest('hex'),
        backends: {},
      });
      try {
        const page = await iso.render(request('/'));
        const html = new TextDecoder().decode(page.body);
        expect(page.status).toBe(200);
        expect(html).toContain('<h1>Hello from shop</h1>');
        expect(html).toContain(`<link rel="stylesheet" href="/shop${stylesheet?.path}"`);
        const entry = manifest.assets.find((a) => /^\/assets\/client\/main-.*\.js$/.test(a.path));
        if (template === 'none') expect(entry).toBeUndefined();
        else expect(html).toContain(`<script type="module" src="/shop${entry?.path}"`);
        const missing = await iso.render(request('/nowhere'));
        expect(missing.status).toBe(404);
        expect(new TextDecoder().decode(missing.body)).toContain('href="/shop/"');
      } finally {
        iso.dispose();
      }
    },
  );

  it('hands a React Router app to its own tooling, and says to install it when it is missing', async () => {
    const dir = await copyFixture('react-router', 'build-react-router');
    expect((await runCli(['init', '--dir', dir], CLI)).code).toBe(0);
    const build = await runCli(['build', '--dir', dir], CLI);
    expect(build.code).toBe(1);
    // One prefix: the build's own, not `flotilla: flotilla build: …`.
    expect(build.stderr).toMatch(
      /^flotilla build: react-router-shop: framework "react-router" needs React Router's CLI, and /m,
    );
    expect(build.stderr).not.toContain('flotilla: flotilla');
    expect(build.stderr).toContain("install the app's dependencies (npm install;");
  });
});
