/**
 * A fresh Nuxt project, not the example, as a user has it: in a directory
 * outside the workspace, Nuxt's minimal starter, `npm install`, the Flotilla
 * packages from their tarballs (`packAll`, as `./run pack` makes them; once
 * per run: packed-once.ts),
 * `npx flotilla init` (the only Flotilla file the project gets), then
 * `npx flotilla publish` to a real fleet, whose shield serves Nuxt's page.
 *
 * `nuxi init` (`npm create nuxt`) fetches its templates from GitHub, which
 * this machine cannot reach: the starter's files are written here by hand,
 * as `nuxi init --template minimal` makes them for Nuxt 4 (package.json,
 * nuxt.config.ts, app/app.vue, public/robots.txt, tsconfig.json), with
 * Nuxt pinned at the version Flotilla is tested with. Nuxt 4.6 needs Node
 * ^22.22.3 or ^24.15, so the user's shell runs npm and npx with Node 24.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PackedPackage } from '@flotilla/release';
import { type Fleet, httpRequest, startFleet, waitFor } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedOnce } from './packed-once.ts';
import { inRepo, REPO_ROOT, type ShellResult, shown, userRun } from './user-shell.ts';

/** npm install fetches Nuxt's ~600 packages from the registry: minutes on a busy machine. */
const INSTALL_MS = 900_000;
/** Nuxt's build runs inside `flotilla publish`. */
const PUBLISH_MS = 600_000;

/** Nuxt, Vue and Vue Router as the example pins them. */
const example = JSON.parse(
  await readFile(join(REPO_ROOT, 'examples', 'nuxt-shop', 'package.json'), 'utf8'),
) as { dependencies: Record<string, string> };

/** Nuxt 4's minimal starter, as `nuxi init` writes it. */
const STARTER: Record<string, string> = {
  'package.json': `${JSON.stringify(
    {
      name: 'nuxt-app',
      type: 'module',
      private: true,
      scripts: {
        build: 'nuxt build',
        dev: 'nuxt dev',
        generate: 'nuxt generate',
        preview: 'nuxt preview',
        postinstall: 'nuxt prepare',
      },
      dependencies: {
        nuxt: example.dependencies.nuxt,
        vue: example.dependencies.vue,
        'vue-router': example.dependencies['vue-router'],
      },
    },
    null,
    2,
  )}\n`,
  'nuxt.config.ts': [
    '// https://nuxt.com/docs/api/configuration/nuxt-config',
    'export default defineNuxtConfig({',
    "  compatibilityDate: '2025-07-15',",
    '  devtools: { enabled: true }',
    '})',
    '',
  ].join('\n'),
  'app/app.vue': [
    '<template>',
    '  <div>',
    '    <NuxtRouteAnnouncer />',
    '    <NuxtWelcome />',
    '  </div>',
    '</template>',
    '',
  ].join('\n'),
  'public/robots.txt': 'User-Agent: *\nDisallow:\n',
  'tsconfig.json': `${JSON.stringify(
    {
      files: [],
      references: [
        { path: './.nuxt/tsconfig.app.json' },
        { path: './.nuxt/tsconfig.server.json' },
        { path: './.nuxt/tsconfig.shared.json' },
        { path: './.nuxt/tsconfig.node.json' },
      ],
    },
    null,
    2,
  )}\n`,
};

let appDir: string;
let packed: PackedPackage[];
let fleet: Fleet | undefined;

const npm = (args: string[], timeoutMs = INSTALL_MS) =>
  userRun('npm', args, { cwd: appDir, node: 'node24', timeoutMs });
const npx = (args: string[], timeoutMs = PUBLISH_MS) =>
  userRun('npx', args, { cwd: appDir, node: 'node24', timeoutMs });

function ok(what: string, result: ShellResult): ShellResult {
  expect(result.code, shown(what, result)).toBe(0);
  return result;
}

describe('a fresh Nuxt project with only `flotilla init` added', () => {
  beforeAll(async () => {
    appDir = await mkdtemp(join(tmpdir(), 'flotilla-nuxt-'));
    packed = await packedOnce();
    for (const [rel, text] of Object.entries(STARTER)) {
      await mkdir(join(appDir, rel, '..'), { recursive: true });
      await writeFile(join(appDir, rel), text);
    }
  }, INSTALL_MS);

  afterAll(async () => {
    await fleet?.stop();
    if (appDir) await rm(appDir, { recursive: true, force: true });
  }, 120_000);

  it(
    'installs, is set up by `npx flotilla init`, publishes to a fleet and serves the page',
    async () => {
      expect(inRepo(appDir)).toBe(false);
      ok('npm install', await npm(['install']));
      ok(
        'npm install (Flotilla tarballs)',
        await npm(['install', ...packed.map((p) => p.tarball)]),
      );

      const init = ok('npx flotilla init', await npx(['flotilla', 'init'], 120_000));
      expect(`${init.stdout}${init.stderr}`).toContain('package.json depends on nuxt');
      const config = JSON.parse(await readFile(join(appDir, 'flotilla.config.json'), 'utf8')) as {
        name: string;
        framework: string;
      };
      expect(config.framework).toBe('nuxt');
      expect(config.name).toBe('nuxt-app');

      fleet = await startFleet({ workers: 1, cache: true });
      const published = ok(
        'npx flotilla publish',
        await npx(['flotilla', 'publish', '--env', 'production', '--nats', fleet.nats.url]),
      );
      expect(published.stdout).toMatch(/deployment nuxt-app-[0-9a-f]{12} published/);
      expect(published.stderr).toMatch(/build: framework nuxt build \(/);
      // Nothing of the build's own is left in the project.
      await expect(readFile(join(appDir, '.flotilla', 'nuxt', 'runner.mjs'))).rejects.toThrow();

      const host = 'nuxt-app.localhost';
      const shield = fleet.shield.url;
      await waitFor(async () => (await httpRequest(shield, '/', { host })).status === 200, {
        timeoutMs: 30_000,
        message: `the shield never served ${host}/`,
      });
      const page = await httpRequest(shield, '/', { host });
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toContain('<div id="__nuxt">');
      expect(page.body).toContain('Welcome to Nuxt!');
      const script = /<script type="module" src="([^"]+)"/.exec(page.body)?.[1];
      expect(script).toMatch(/^\/_nuxt\/[\w-]+\.js$/);
      const js = await httpRequest(shield, script as string, { host });
      expect(js.status).toBe(200);
      expect(js.headers['cache-control']).toContain('immutable');
    },
    INSTALL_MS + PUBLISH_MS,
  );
});
